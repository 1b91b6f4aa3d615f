// socketlatency: how long received data waits in an IPv4/IPv6 socket before the application
// reads it: from the first sock:sk_data_ready since the last read to the next
// sock:sock_recv_length that returns data. Per network namespace as a fixed-bucket histogram
// kept in the kernel (see latency.bpf.h), and a rate-limited event with the tuple when the wait
// exceeds the threshold (default 100 ms, set from userspace in `threshold`).
//
// Send latency, TCP only: from the first tcp:tcp_sendmsg_locked of a send (it fires on each
// pass of tcp_sendmsg_locked's copy loop, including after waiting for send-buffer space) to
// the sock:sock_send_length that returns it. Kernel-internal senders of tcp_sendmsg_locked
// (kTLS, espintcp) never reach sock_send_length: their entry stays until the next send of
// that socket returns (then one long observation) or the LRU evicts it.
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define MSG_PEEK 2
enum { READ = 0, SEND = 1 }; // metric and event kind (src/probes/socketlatency.ts)

// Socket cookie → when data became ready and nobody had read since. Keyed by cookie, not by
// address: a socket closed with unread data never sees the read that would delete its entry,
// and a later socket at the same address must not inherit it (the LRU evicts such leftovers).
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} ready SEC(".maps");

// Socket cookie → when the send in progress entered tcp_sendmsg_locked.
struct {
  __uint(type, BPF_MAP_TYPE_LRU_HASH);
  __uint(max_entries, 65536);
  __type(key, __u64);
  __type(value, __u64);
} sending SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536); // 42 keys per namespace
  __type(key, struct hist_key);
  __type(value, __u64);
} hist SEC(".maps");

static __always_inline bool inet(const struct sock *sk) {
  __u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
  return family == AF_INET || family == AF_INET6;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(sk_data_ready, const struct sock *sk) {
  // A listener's data_ready announces a connection to accept, not data to read.
  if (!sk || !inet(sk) || BPF_CORE_READ(sk, __sk_common.skc_state) == TCP_LISTEN) return 0;
  __u64 key = bpf_get_socket_cookie((void *)sk);
  if (bpf_map_lookup_elem(&ready, &key)) return 0; // data already waiting: keep the oldest
  __u64 now = bpf_ktime_get_ns();
  bpf_map_update_elem(&ready, &key, &now, BPF_NOEXIST);
  return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags) {
  if (!sk || (flags & MSG_PEEK) || !inet(sk)) return 0;
  __u64 key = bpf_get_socket_cookie(sk);
  __u64 *since = bpf_map_lookup_elem(&ready, &key);
  if (!since) return 0;
  if (ret < 0) return 0; // EAGAIN, EINTR: the data still waits
  __u64 ready_at = *since;
  bpf_map_delete_elem(&ready, &key);
  if (ret == 0) return 0; // end of stream: nothing was waiting to be read
  __u64 now = bpf_ktime_get_ns();
  if (now < ready_at) return 0;
  __u64 ns = now - ready_at;
  __u32 netns = sk_netns(sk);
  struct event *e = latency_event(&hist, netns, READ, ns, now);
  if (!e) return 0;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  e->protocol = BPF_CORE_READ(sk, sk_protocol);
  event_submit(e);
  return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcp_sendmsg_locked, const struct sock *sk, const struct msghdr *msg, const struct sk_buff *skb, int size_goal) {
  if (!sk) return 0;
  __u64 key = bpf_get_socket_cookie((void *)sk);
  __u64 now = bpf_ktime_get_ns();
  // BPF_NOEXIST: later passes of the same send's loop keep its start.
  bpf_map_update_elem(&sending, &key, &now, BPF_NOEXIST);
  return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags) {
  if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP) return 0;
  __u64 key = bpf_get_socket_cookie(sk);
  __u64 now = bpf_ktime_get_ns();
  __u64 ns = take_elapsed(&sending, &key, now);
  if (!ns) return 0;
  struct event *e = latency_event(&hist, sk_netns(sk), SEND, ns, now);
  if (!e) return 0;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  event_submit(e);
  return 0;
}
