// self: the agent's own TCP sockets, so that no probe reports the agent's own traffic (its pushes
// to Loki, OTLP and remote write, its Kubernetes API watches, the scrapes it serves). A socket is
// the agent's when the agent's process connects it (CLOSE → SYN_SENT runs inside its connect()
// call) or when it is accepted on one of the agent's listening ports (SYN_RECV → ESTABLISHED).
// Its cookie goes into own_sockets (common.bpf.h), which every probe object shares with this one.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// The agent's process id, set by userspace before load; 0 records nothing it connects.
const volatile __u32 self_tgid = 0;

// The agent's listening ports, by network namespace (the agent runs in the host's).
struct port_key {
  __u32 netns;
  __u32 port;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 64);
  __type(key, struct port_key);
  __type(value, __u8);
} own_ports SEC(".maps");
BTF_EXPORT(struct port_key, port_key);

static __always_inline void record(const struct sock *sk) {
  // Asking for the cookie also gives the socket one: the probes then read it from the socket.
  __u64 cookie = bpf_get_socket_cookie((void *)sk);
  __u8 one = 1;
  bpf_map_update_elem(&own_sockets, &cookie, &one, BPF_ANY);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate) {
  if (newstate == TCP_SYN_SENT) {
    if (self_tgid && bpf_get_current_pid_tgid() >> 32 == self_tgid) record(sk);
  } else if (newstate == TCP_ESTABLISHED && oldstate == TCP_SYN_RECV) {
    struct port_key key = {.netns = sk_netns(sk), .port = BPF_CORE_READ(sk, __sk_common.skc_num)};
    if (bpf_map_lookup_elem(&own_ports, &key)) record(sk);
  }
  return 0;
}
