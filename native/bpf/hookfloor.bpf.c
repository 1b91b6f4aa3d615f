// hookfloor: an object for bench/bpf.ts only, never loaded by the agent: empty programs on every
// tracepoint the four latency probes attach to, as many per tracepoint as those probes attach
// there. What the benchmark loses with it attached is what the kernel's dispatch to a program
// costs (the tracepoint, its run of the program, the indirect calls), before
// any program does anything: the floor under the latency probes' cost per packet.
#include "common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tp_btf/softirq_raise")
int BPF_PROG(floor_softirq_raise) { return 0; }
SEC("tp_btf/softirq_entry")
int BPF_PROG(floor_softirq_entry) { return 0; }
SEC("tp_btf/softirq_exit")
int BPF_PROG(floor_softirq_exit) { return 0; }
// two of the probes attach to sk_data_ready
SEC("tp_btf/sk_data_ready")
int BPF_PROG(floor_sk_data_ready_1) { return 0; }
SEC("tp_btf/sk_data_ready")
int BPF_PROG(floor_sk_data_ready_2) { return 0; }
SEC("tp_btf/sock_recv_length")
int BPF_PROG(floor_sock_recv_length) { return 0; }
SEC("tp_btf/tcp_sendmsg_locked")
int BPF_PROG(floor_tcp_sendmsg_locked) { return 0; }
SEC("tp_btf/sock_send_length")
int BPF_PROG(floor_sock_send_length) { return 0; }
// two of the probes attach to net_dev_queue
SEC("tp_btf/net_dev_queue")
int BPF_PROG(floor_net_dev_queue_1) { return 0; }
SEC("tp_btf/net_dev_queue")
int BPF_PROG(floor_net_dev_queue_2) { return 0; }
SEC("tp_btf/net_dev_start_xmit")
int BPF_PROG(floor_net_dev_start_xmit) { return 0; }
SEC("tp_btf/net_dev_xmit")
int BPF_PROG(floor_net_dev_xmit) { return 0; }
SEC("tp_btf/netif_receive_skb")
int BPF_PROG(floor_netif_receive_skb) { return 0; }
SEC("tp_btf/tcp_probe")
int BPF_PROG(floor_tcp_probe) { return 0; }
