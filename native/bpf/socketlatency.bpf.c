// socketlatency: how long received data waits in an IPv4/IPv6 socket before the application
// reads it: from the first sock:sk_data_ready since the last read to the next
// sock:sock_recv_length that returns data. Per network namespace as a fixed-bucket histogram
// kept in the kernel (see latency.bpf.h), and a rate-limited event with the tuple when the wait
// exceeds the threshold (default 100 ms, set from userspace in `threshold`).
//
// Send latency, TCP only: from the first tcp:tcp_sendmsg_locked of a send (it fires on each
// pass of tcp_sendmsg_locked's copy loop, including after waiting for send-buffer space) to
// the sock:sock_send_length that returns it. Kernel-internal senders of tcp_sendmsg_locked
// (kTLS, espintcp) never reach sock_send_length: their start stays until the next send of
// that socket returns (then one long observation) or the socket is freed.
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#define MSG_PEEK 2
// Metric and event kind; userspace reads it from the BTF (BpfProbe.kernelKinds).
enum socketlatency_kind {
  SOCKETLATENCY_READ = 0,
  SOCKETLATENCY_SEND = 1,
};
BTF_EXPORT(enum socketlatency_kind, kind);

// Per socket, in the socket's own storage (freed with it, no shared map to look up): when
// received data became ready that nobody has read since, and when the send in progress entered
// tcp_sendmsg_locked; 0 when none.
//
// Reads are sampled per wait (event_config.latency_sample): whether the next wait is measured
// is decided at the read that ends the previous one (at a socket's first data ready, for its
// first wait), so a wait that is not measured costs its data ready and its read only a look at
// this storage: nothing is written into it, which on a flood would be a cache line moved between
// the softirq's CPU and the reader's for every packet. Each wait is measured with probability
// 1/N independently of how long it lasts.
enum read_arm {
  READ_UNDECIDED = 0, // a fresh storage: the first data ready decides
  READ_ARMED = 1,     // the next wait is measured
  READ_SKIPPED = 2,   // it is not
};
struct socket_times {
  __u64 ready;
  __u64 sending;
  __u32 read_arm; // enum read_arm
  __u32 pad;
};
struct {
  __uint(type, BPF_MAP_TYPE_SK_STORAGE);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, int);
  __type(value, struct socket_times);
} times SEC(".maps");

static __always_inline __u32 read_arm_next(void) {
  return sample_this() ? READ_ARMED : READ_SKIPPED;
}

HIST_MAP(hist);

// Direct reads (BTF pointers) rather than probe reads: these programs run for every packet.
static __always_inline bool inet(const struct sock *sk) {
  __u16 family = sk->__sk_common.skc_family;
  return family == AF_INET || family == AF_INET6;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(sk_data_ready, struct sock *sk) {
  // A listener's data_ready announces a connection to accept, not data to read.
  if (!sk || !inet(sk) || sk->__sk_common.skc_state == TCP_LISTEN) return 0;
  struct socket_times *t = bpf_sk_storage_get(&times, sk, 0, 0);
  if (!t) {
    t = bpf_sk_storage_get(&times, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
    if (!t) return 0;
  }
  if (t->read_arm == READ_UNDECIDED) t->read_arm = read_arm_next();
  // Data already waiting: keep the oldest.
  if (t->read_arm == READ_ARMED && !t->ready) t->ready = bpf_ktime_get_ns();
  return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(sock_recv_length, struct sock *sk, int ret, int flags) {
  if (!sk || (flags & MSG_PEEK) || ret < 0) return 0; // EAGAIN, EINTR: the data still waits
  struct socket_times *t = bpf_sk_storage_get(&times, sk, 0, 0);
  if (!t) return 0;
  if (ret == 0) { // end of stream: nothing waited
    if (t->ready) t->ready = 0;
    return 0;
  }
  // This read ends the wait: decide whether the next one is measured (written only on a change).
  __u32 arm = read_arm_next();
  if (t->read_arm != arm) t->read_arm = arm;
  if (!t->ready) return 0;
  __u64 ready_at = t->ready;
  t->ready = 0;
  __u64 now = bpf_ktime_get_ns();
  if (now < ready_at) return 0;
  struct event *e = latency_event(&hist, sk_netns(sk), SOCKETLATENCY_READ, now - ready_at, now, sk);
  if (!e) return 0;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  e->protocol = BPF_CORE_READ(sk, sk_protocol);
  event_submit(e);
  return 0;
}

SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(tcp_sendmsg_locked, struct sock *sk, const struct msghdr *msg, const struct sk_buff *skb, int size_goal) {
  if (!sk) return 0;
  struct socket_times *t = bpf_sk_storage_get(&times, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
  if (t && !t->sending) t->sending = sampled_start(); // later passes of the same send's loop keep its start
  return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(sock_send_length, struct sock *sk, int ret, int flags) {
  if (!sk || sk->sk_protocol != IPPROTO_TCP) return 0;
  struct socket_times *t = bpf_sk_storage_get(&times, sk, 0, 0);
  if (!t || !t->sending) return 0;
  __u64 start = t->sending;
  t->sending = 0;
  if (start == NOT_SAMPLED) return 0;
  __u64 now = bpf_ktime_get_ns();
  if (now <= start) return 0;
  struct event *e = latency_event(&hist, sk_netns(sk), SOCKETLATENCY_SEND, now - start, now, sk);
  if (!e) return 0;
  e->state = BPF_CORE_READ(sk, __sk_common.skc_state);
  tuple_from_sk(e, sk);
  event_submit(e);
  return 0;
}
