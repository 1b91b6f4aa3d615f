// dns: DNS queries, answers, latency and timeouts per network namespace, seen at the sockets that
// send and receive them. Two cgroup_skb programs attached at the root of the cgroup v2 hierarchy
// (object.cc) run for every socket of the node: egress sees each query leaving the client's socket,
// ingress each answer arriving at it. A packet crossing a veth is seen once, at its socket, never
// again on the host side (no socket there), and a DNS server's own sockets are ignored: only
// queries sent to a DNS port and answers coming from one count.
//
// A query waits in `pending` (bounded) with its send time, name and type, keyed by (netns,
// protocol, client port, DNS id). Its answer removes it and is observed in the latency histogram;
// a bpf_timer per query removes it when no answer came within the timeout and counts a timeout.
// The nameserver's address is not in the key: under NAT in the client's own namespace (a host
// process asking a Service address) the answer comes from another address than the query went to.
// Names are read label by label with bounded loops; compression pointers are never followed (a
// question's name is the first name of the message, so a pointer there is malformed anyway).
#include "common.bpf.h"
#include "latency.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// Counter and histogram kinds (the high 4 bits of a key's base) and event kinds.
enum dns_kind {
  DNS_QUERIES = 1,    // base | qtype << 8, per server slot
  DNS_RESPONSES = 2,  // base | rcode << 8
  DNS_TIMEOUTS = 3,   // per server slot
  DNS_LATENCY = 4,    // a histogram per server slot
  DNS_MALFORMED = 5,
  DNS_EVENT_TIMEOUT = 6,
  DNS_EVENT_ERROR = 7,
};
BTF_EXPORT(enum dns_kind, dns_kind);

// Where a count goes in a counter key's base: kind, server slot, code (qtype or rcode); the low
// 8 bits stay clear for the histogram slots (latency.bpf.h).
#define BASE(kind, slot, code) (((__u32)(kind) << 28) | ((__u32)(slot) << 24) | (((__u32)(code) & 0xffff) << 8))

// Nameservers of one namespace get slots 0..MAX_SERVERS-1 in the order they are first asked; the
// rest share SERVER_OTHER, so a namespace has at most MAX_SERVERS + 1 server labels.
#define MAX_SERVERS 8
#define SERVER_OTHER MAX_SERVERS

// Every count is a histogram value (slot 0 for plain counters): one map, read by BpfProbe.counters().
HIST_MAP(counts);

// Settings userspace writes (event_config.dns); 0 means the default.
enum dns_setting {
  DNS_SETTING_TIMEOUT_NS = 0,
  DNS_SETTING_ERROR_RCODES = 1, // bit per rcode that is a DNS_ERROR event
  DNS_SETTING_PORT0 = 2,        // DNS ports, 0-terminated
  DNS_SETTING_COUNT = DNS_SETTING_PORT0 + 8,
};
BTF_EXPORT(enum dns_setting, dns_setting);
struct dns_config {
  __u64 v[DNS_SETTING_COUNT];
};
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct dns_config);
} dns_settings SEC(".maps");

#define DEFAULT_TIMEOUT_NS 2000000000ULL
#define CLOCK_MONOTONIC 1
#define RCODE_SERVFAIL 2
#define RCODE_REFUSED 5
#define DEFAULT_ERROR_RCODES ((1U << RCODE_SERVFAIL) | (1U << RCODE_REFUSED))

struct server_key {
  __u32 netns;
  __u8 addr[16];
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096 * MAX_SERVERS);
  __type(key, struct server_key);
  __type(value, __u32);
} servers SEC(".maps");
// Slots given out per namespace (userspace deletes both maps' entries of a namespace that is gone).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __type(key, __u32);
  __type(value, __u32);
} server_slots SEC(".maps");
BTF_EXPORT(struct server_key, server_key);

#define NAME_MAX_WIRE 255
struct pending_key {
  __u32 netns;
  __u16 client_port;
  __u16 id;
  __u8 protocol;
  __u8 pad[3];
};
// A query waiting for its answer.
struct query {
  __u64 ts;
  __u32 netns;
  __u16 qtype;
  __u16 server_port;
  __u16 client_port;
  __u16 id;
  __u8 slot;
  __u8 family;
  __u8 protocol;
  __u8 name_len; // wire bytes of name, with the final 0
  __u8 client[16];
  __u8 server[16];
  __u8 name[256];
};
struct pending {
  struct bpf_timer timer;
  struct query q;
};
// struct pending as it is built before it is inserted (a timer cannot live in a per-CPU map).
struct pending_image {
  __u8 timer[sizeof(struct bpf_timer)];
  struct query q;
};
// Queries waiting for their answer. When it is full a new query is counted but not followed.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 8192);
  __type(key, struct pending_key);
  __type(value, struct pending);
} pending SEC(".maps");
// Room for a pending entry (too big for the BPF stack), one per context that may interrupt
// another on the same CPU: a query being sent (process), an answer (softirq), a timer (softirq).
enum scratch_slot { SCRATCH_QUERY, SCRATCH_ANSWER, SCRATCH_TIMER, SCRATCH_SLOTS };
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, SCRATCH_SLOTS);
  __type(key, __u32);
  __type(value, struct pending_image);
} scratch SEC(".maps");

// What a DNS event carries where struct event has its stack (DNS events send no stack).
struct dns_payload {
  __u16 id;
  __u16 qtype;
  __u16 ancount;
  __u8 name_len; // bytes of name filled (wire format, may be cut at DNS_EVENT_NAME)
  __u8 pad;
  __u8 name[MAX_STACK * 8 - 8];
};
#define DNS_EVENT_NAME (MAX_STACK * 8 - 8)
BTF_EXPORT(struct dns_payload, dns_payload);

struct dns_header {
  __be16 id;
  __be16 flags;
  __be16 qdcount;
  __be16 ancount;
  __be16 nscount;
  __be16 arcount;
};

struct packet {
  __u32 netns;
  __u32 dns;      // offset of the DNS header in the skb
  __u16 sport;    // host byte order
  __u16 dport;
  __u8 family;
  __u8 protocol;
  __u8 saddr[16];
  __u8 daddr[16];
};

static __always_inline void count(__u32 netns, __u32 base) {
  struct hist_key key = {.id = netns, .base = base};
  struct hist *h = bpf_map_lookup_elem(&counts, &key);
  if (!h) {
    struct hist empty = {};
    bpf_map_update_elem(&counts, &key, &empty, BPF_NOEXIST);
    h = bpf_map_lookup_elem(&counts, &key);
    if (!h) {
      stat_inc(STAT_MAPFULL);
      return;
    }
  }
  __sync_fetch_and_add(&h->slot[0], 1);
}

static __always_inline struct dns_config *settings_of(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&dns_settings, &zero);
}

static __always_inline bool is_dns_port(const struct dns_config *c, __u16 port) {
  if (!c || !c->v[DNS_SETTING_PORT0]) return port == 53;
  for (int i = 0; i < DNS_SETTING_COUNT - DNS_SETTING_PORT0; i++) {
    __u64 p = c->v[DNS_SETTING_PORT0 + i];
    if (!p) break;
    if (p == port) return true;
  }
  return false;
}

// The network namespace of the packet's socket. A cgroup_skb program always has one, but the
// verifier forbids arithmetic on it: the common part is copied and its net pointer read from the copy.
static __always_inline __u32 socket_netns(struct __sk_buff *skb) {
  struct bpf_sock *sk = skb->sk;
  if (!sk) return 0;
  struct sock_common sc;
  if (bpf_probe_read_kernel(&sc, sizeof(sc), sk)) return 0;
  struct net *net = sc.skc_net.net;
  return net ? BPF_CORE_READ(net, ns.inum) : 0;
}

// The protocol and ports, and where the transport header ends; false for anything that is not a
// first fragment of UDP or TCP. Every packet of the node comes here: the headers are read in
// place from the packet's linear part (no helper call), with bpf_skb_load_bytes only when they
// are not there.
static __always_inline bool parse_ports(struct __sk_buff *skb, struct packet *p) {
  void *data = (void *)(long)skb->data;
  void *end = (void *)(long)skb->data_end;
  __u32 l4;
  if (skb->protocol == bpf_htons(ETH_P_IP)) {
    struct iphdr copy, *ip = data;
    if ((void *)(ip + 1) > end) {
      if (bpf_skb_load_bytes(skb, 0, &copy, sizeof(copy))) return false;
      ip = &copy;
    }
    if (ip->frag_off & bpf_htons(0x1fff)) return false;
    p->family = AF_INET;
    p->protocol = ip->protocol;
    l4 = ip->ihl * 4;
  } else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr *ip6 = data;
    __u8 next;
    if ((void *)(ip6 + 1) <= end) next = ip6->nexthdr;
    else if (bpf_skb_load_bytes(skb, __builtin_offsetof(struct ipv6hdr, nexthdr), &next, 1)) return false;
    p->family = AF_INET6;
    p->protocol = next; // extension headers are not walked
    l4 = sizeof(*ip6);
  } else {
    return false;
  }
  if (p->protocol != IPPROTO_UDP && p->protocol != IPPROTO_TCP) return false;
  if (l4 < sizeof(struct iphdr) || l4 > 60 + sizeof(struct iphdr)) return false;
  __be16 copy[2], *ports = data + l4;
  if ((void *)(ports + 2) > end) {
    if (bpf_skb_load_bytes(skb, l4, copy, sizeof(copy))) return false;
    ports = copy;
  }
  p->sport = bpf_ntohs(ports[0]);
  p->dport = bpf_ntohs(ports[1]);
  p->dns = l4 + 8;
  return true;
}

// The addresses, for DNS packets only.
static __always_inline bool read_addresses(struct __sk_buff *skb, struct packet *p) {
  __builtin_memset(p->saddr, 0, sizeof(p->saddr));
  __builtin_memset(p->daddr, 0, sizeof(p->daddr));
  if (p->family == AF_INET) {
    __be32 a[2];
    if (bpf_skb_load_bytes(skb, __builtin_offsetof(struct iphdr, saddr), a, sizeof(a))) return false;
    __builtin_memcpy(p->saddr, &a[0], 4);
    __builtin_memcpy(p->daddr, &a[1], 4);
    return true;
  }
  return bpf_skb_load_bytes(skb, __builtin_offsetof(struct ipv6hdr, saddr), p->saddr, 16) == 0 &&
         bpf_skb_load_bytes(skb, __builtin_offsetof(struct ipv6hdr, daddr), p->daddr, 16) == 0;
}

// For TCP: where the message starts after the header and the 2-byte length; false for segments
// without data (handshake, ACKs). A message split over segments is read from its first segment.
static __always_inline bool tcp_message(struct __sk_buff *skb, struct packet *p) {
  if (p->protocol != IPPROTO_TCP) return true;
  __u8 doff;
  if (bpf_skb_load_bytes(skb, p->dns - 8 + 12, &doff, 1)) return false;
  p->dns = p->dns - 8 + (doff >> 4) * 4 + 2;
  return skb->len > p->dns - 2;
}

enum parse_result { PARSE_OK, PARSE_SKIP, PARSE_MALFORMED };

// The question's name (wire bytes into *name_len) and type, after the header at p->dns.
static __always_inline int parse_question(struct __sk_buff *skb, const struct packet *p, __u32 *name_len, __u16 *qtype) {
  __u32 start = p->dns + sizeof(struct dns_header);
  __u32 n = 0;
  bool done = false;
  // At most 128 labels fit in 255 bytes (a 1-byte label and its length each, then the root).
  for (int i = 0; i < 128; i++) {
    __u8 len;
    if (bpf_skb_load_bytes(skb, start + n, &len, 1)) return PARSE_MALFORMED; // truncated
    n += 1;
    if (len == 0) {
      done = true;
      break;
    }
    if (len & 0xc0) return PARSE_MALFORMED; // a compression pointer or a reserved label type
    n += len;
    if (n > NAME_MAX_WIRE) return PARSE_MALFORMED;
  }
  if (!done || n > NAME_MAX_WIRE) return PARSE_MALFORMED;
  __be16 qt;
  if (bpf_skb_load_bytes(skb, start + n, &qt, sizeof(qt))) return PARSE_MALFORMED;
  *name_len = n;
  *qtype = bpf_ntohs(qt);
  return PARSE_OK;
}

// Query types that get their own label; others are counted as type 0 ("other"), so a client
// sending random types cannot fill the counter map.
static __always_inline __u16 qtype_label(__u16 t) {
  switch (t) {
  case 1: case 2: case 5: case 6: case 12: case 15: case 16: case 28: case 33: case 35: case 43: case 46: case 48:
  case 64: case 65: case 255: case 257:
    return t;
  default:
    return 0;
  }
}

static __always_inline __u32 server_slot(__u32 netns, const __u8 *addr) {
  struct server_key k = {.netns = netns};
  __builtin_memcpy(k.addr, addr, 16);
  __u32 *s = bpf_map_lookup_elem(&servers, &k);
  if (s) return *s;
  __u32 zero = 0;
  bpf_map_update_elem(&server_slots, &netns, &zero, BPF_NOEXIST);
  __u32 *given = bpf_map_lookup_elem(&server_slots, &netns);
  if (!given || *given >= MAX_SERVERS) return SERVER_OTHER;
  // Two new servers of one namespace in the same instant may share a slot (a label then names
  // one of them); rare enough not to pay for a lock.
  __u32 slot = *given;
  __sync_fetch_and_add(given, 1);
  if (bpf_map_update_elem(&servers, &k, &slot, BPF_NOEXIST)) {
    // Another CPU named it first (this slot stays unused), or the map is full.
    s = bpf_map_lookup_elem(&servers, &k);
    return s ? *s : SERVER_OTHER;
  }
  return slot;
}

static __always_inline __u64 timeout_ns(const struct dns_config *c) {
  return c && c->v[DNS_SETTING_TIMEOUT_NS] ? c->v[DNS_SETTING_TIMEOUT_NS] : DEFAULT_TIMEOUT_NS;
}

// Emits a DNS event about pending query `q` (rate-limited like every event).
static __always_inline void dns_event(__u32 kind, const struct query *q, __u64 now, __u8 rcode, __u16 ancount) {
  __u32 flags;
  if (!event_allowed(now, &flags)) return;
  struct event *e = event_reserve(sizeof(struct event));
  if (!e) return;
  __builtin_memset(e, 0, EVENT_NOSTACK_SIZE);
  e->ts = now;
  e->netns = q->netns;
  e->kind = kind;
  e->family = q->family;
  __builtin_memcpy(e->saddr, q->client, 16);
  __builtin_memcpy(e->daddr, q->server, 16);
  e->sport = q->client_port;
  e->dport = q->server_port;
  e->protocol = q->protocol;
  e->state = rcode;
  e->reason = us(now - q->ts);
  struct dns_payload *d = (struct dns_payload *)e->stack;
  d->id = q->id;
  d->qtype = q->qtype;
  d->ancount = ancount;
  __u32 n = q->name_len;
  if (n > DNS_EVENT_NAME) n = DNS_EVENT_NAME;
  d->name_len = n;
  d->pad = 0;
  __builtin_memcpy(d->name, q->name, DNS_EVENT_NAME);
  e->stack_bytes = sizeof(struct dns_payload);
  event_submit(e);
}

// A query's timer fired: no answer within the timeout. Whoever deletes the entry (this, or its
// answer arriving at the same moment) is the one that counts it.
static int expired(void *map, struct pending_key *key, struct pending *v) {
  __u64 now = bpf_ktime_get_ns();
  __u32 at = SCRATCH_TIMER;
  struct pending_image *copy = bpf_map_lookup_elem(&scratch, &at);
  if (!copy) return 0;
  __builtin_memcpy(&copy->q, &v->q, sizeof(copy->q));
  if (bpf_map_delete_elem(map, key)) return 0;
  count(copy->q.netns, BASE(DNS_TIMEOUTS, copy->q.slot, 0));
  dns_event(DNS_EVENT_TIMEOUT, &copy->q, now, 0, 0);
  return 0;
}

static __always_inline void on_query(struct __sk_buff *skb, struct packet *p, const struct dns_header *h, const struct dns_config *c) {
  __u32 at = SCRATCH_QUERY;
  struct pending_image *img = bpf_map_lookup_elem(&scratch, &at);
  if (!img) return;
  struct query *q = &img->q;
  __u32 name_len;
  __u16 qtype;
  if (!h->qdcount || parse_question(skb, p, &name_len, &qtype) != PARSE_OK) {
    count(p->netns, BASE(DNS_MALFORMED, 0, 0));
    return;
  }
  __u32 slot = server_slot(p->netns, p->daddr);
  count(p->netns, BASE(DNS_QUERIES, slot, qtype_label(qtype)));

  struct pending_key key = {.netns = p->netns, .client_port = p->sport, .id = bpf_ntohs(h->id), .protocol = p->protocol};
  // A retransmission (same key while waiting) keeps the first send's time.
  if (bpf_map_lookup_elem(&pending, &key)) return;
  q->ts = bpf_ktime_get_ns();
  q->netns = p->netns;
  q->qtype = qtype;
  q->server_port = p->dport;
  q->client_port = p->sport;
  q->id = key.id;
  q->slot = slot;
  q->family = p->family;
  q->protocol = p->protocol;
  q->name_len = name_len;
  __builtin_memcpy(q->client, p->saddr, 16);
  __builtin_memcpy(q->server, p->daddr, 16);
  __builtin_memset(q->name, 0, sizeof(q->name));
  // The mask keeps the length provably within name[] for the verifier (parse_question bounds it).
  __u32 n = name_len;
  asm volatile("" : "+r"(n)); // clang would drop the mask, knowing n <= 255
  n &= 0xff;
  if (n) bpf_skb_load_bytes(skb, p->dns + sizeof(struct dns_header), q->name, n);
  if (bpf_map_update_elem(&pending, &key, img, BPF_NOEXIST)) {
    stat_inc(STAT_MAPFULL); // full: counted as a query, never as an answer or a timeout
    return;
  }
  struct pending *entry = bpf_map_lookup_elem(&pending, &key);
  if (!entry) return;
  if (bpf_timer_init(&entry->timer, &pending, CLOCK_MONOTONIC) == 0) bpf_timer_set_callback(&entry->timer, expired);
  bpf_timer_start(&entry->timer, timeout_ns(c), 0);
}

static __always_inline void on_answer(struct __sk_buff *skb, struct packet *p, const struct dns_header *h, const struct dns_config *c) {
  struct pending_key key = {.netns = p->netns, .client_port = p->dport, .id = bpf_ntohs(h->id), .protocol = p->protocol};
  struct pending *v = bpf_map_lookup_elem(&pending, &key);
  if (!v) return; // not a query of ours, or already answered or timed out
  struct query *q = &v->q;
  __u64 now = bpf_ktime_get_ns();
  __u64 elapsed = now - q->ts;
  // Too late: the timer, about to fire, counts it as the timeout it is.
  if (elapsed >= timeout_ns(c)) return;
  __u32 slot = q->slot;
  __u8 rcode = bpf_ntohs(h->flags) & 0xf;
  __u32 errors = c && c->v[DNS_SETTING_ERROR_RCODES] ? c->v[DNS_SETTING_ERROR_RCODES] : DEFAULT_ERROR_RCODES;
  bool error = errors & (1U << rcode);
  __u32 at = SCRATCH_ANSWER;
  struct pending_image *copy = error ? bpf_map_lookup_elem(&scratch, &at) : NULL;
  if (copy) __builtin_memcpy(&copy->q, q, sizeof(copy->q));
  if (bpf_map_delete_elem(&pending, &key)) return;
  count(p->netns, BASE(DNS_RESPONSES, 0, rcode));
  hist_observe(&counts, p->netns, BASE(DNS_LATENCY, slot, 0), elapsed);
  if (copy) dns_event(DNS_EVENT_ERROR, &copy->q, now, rcode, bpf_ntohs(h->ancount));
}

// Both directions: queries leave a client's socket to a DNS port, answers arrive at it from one.
static __always_inline int handle(struct __sk_buff *skb, bool egress) {
  struct packet p; // filled as far as each packet needs it: most stop at their ports
  if (!parse_ports(skb, &p)) return 1;
  struct dns_config *c = settings_of();
  if (!is_dns_port(c, egress ? p.dport : p.sport)) return 1;
  if (!tcp_message(skb, &p) || !read_addresses(skb, &p)) return 1;
  p.netns = socket_netns(skb);
  if (!p.netns) return 1;
  struct dns_header h;
  if (bpf_skb_load_bytes(skb, p.dns, &h, sizeof(h))) {
    count(p.netns, BASE(DNS_MALFORMED, 0, 0));
    return 1;
  }
  bool response = bpf_ntohs(h.flags) & 0x8000;
  if (egress && !response) on_query(skb, &p, &h, c);
  else if (!egress && response) on_answer(skb, &p, &h, c);
  return 1; // observe only: every packet passes
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb) { return handle(skb, true); }

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb) { return handle(skb, false); }
