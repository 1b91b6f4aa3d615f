// tcpext: counters from /proc/<pid>/net/netstat, per network namespace.
import { counter, defineProbe } from './probe.js';
import { snmpCollect } from './snmp.js';

const METRICS = [
  counter('listenoverflows', 'TcpExt:ListenOverflows', 'Times the accept queue of a listening socket was full when a handshake completed.', '{event}'),
  counter('listendrops', 'TcpExt:ListenDrops', 'SYNs or final ACKs dropped by a listening socket (overflows included).', '{packet}'),
  counter('tcpsynretrans', 'TcpExt:TCPSynRetrans', 'SYN and SYN-ACK retransmissions.', '{segment}'),
  counter('tcpfastretrans', 'TcpExt:TCPFastRetrans', 'Fast retransmissions (congestion state other than Loss).', '{segment}'),
  counter('tcpretransfail', 'TcpExt:TCPRetransFail', 'Retransmissions that failed with an error other than EBUSY.', '{segment}'),
  counter('tcptimeouts', 'TcpExt:TCPTimeouts', 'Retransmission timer expiries (RTO), SYN timeouts included.', '{event}'),
  counter('tcpabortonclose', 'TcpExt:TCPAbortOnClose', 'Resets sent because the application closed with unread data.', '{connection}'),
  counter('tcpabortonmemory', 'TcpExt:TCPAbortOnMemory', 'Resets sent because TCP ran out of memory (tcp_check_oom).', '{connection}'),
  counter('tcpabortontimeout', 'TcpExt:TCPAbortOnTimeout', 'Resets sent after keepalive, window-probe or retransmission limits ran out.', '{connection}'),
  counter('tcpabortonlinger', 'TcpExt:TCPAbortOnLinger', 'Resets sent to close FIN_WAIT2 sockets early (TCP_LINGER2).', '{connection}'),
  counter('tcpabortondata', 'TcpExt:TCPAbortOnData', 'Resets sent because data arrived after the application closed (linger).', '{connection}'),
  counter('tcpabortfailed', 'TcpExt:TCPAbortFailed', 'Resets the stack wanted to send but could not.', '{connection}'),
  counter('tcpackskippedsynrecv', 'TcpExt:TCPACKSkippedSynRecv', 'ACKs not sent in SYN_RECV because of out-of-window rate limiting.', '{segment}'),
  counter('tcpackskippedpaws', 'TcpExt:TCPACKSkippedPAWS', 'ACKs not sent after a PAWS check because of out-of-window rate limiting.', '{segment}'),
  counter('tcpackskippedseq', 'TcpExt:TCPACKSkippedSeq', 'ACKs for out-of-window sequence numbers not sent because of rate limiting.', '{segment}'),
  counter('tcpackskippedfinwait2', 'TcpExt:TCPACKSkippedFinWait2', 'ACKs not sent in FIN_WAIT2 because of out-of-window rate limiting.', '{segment}'),
  counter('tcpackskippedtimewait', 'TcpExt:TCPACKSkippedTimeWait', 'ACKs not sent in TIME_WAIT because of out-of-window rate limiting.', '{segment}'),
  counter('tcpackskippedchallenge', 'TcpExt:TCPACKSkippedChallenge', 'Challenge ACKs (answers to suspicious RST/SYN) not sent because of rate limiting.', '{segment}'),
  counter('tcprcvqdrop', 'TcpExt:TCPRcvQDrop', 'Segments dropped because the receive queue was full and memory could not be had.', '{segment}'),
  counter('pawsestab', 'TcpExt:PAWSEstab', 'Segments on established connections rejected by PAWS (old timestamp).', '{segment}', { ack: 'inspector_pod_tcpextpawsestabrejected' }),
  counter('tcpwinprobe', 'TcpExt:TCPWinProbe', 'Zero-window probes sent.', '{segment}'),
  counter('tcpkeepalive', 'TcpExt:TCPKeepAlive', 'Keepalive probes sent.', '{segment}'),
  counter('tcpmtupfail', 'TcpExt:TCPMTUPFail', 'Path MTU probes that failed.', '{event}'),
  counter('tcpmtupsuccess', 'TcpExt:TCPMTUPSuccess', 'Path MTU probes that succeeded.', '{event}'),
  counter('tcpzerowindowdrop', 'TcpExt:TCPZeroWindowDrop', 'Segments dropped because the receive window was zero.', '{segment}'),
  counter('tcpbacklogdrop', 'TcpExt:TCPBacklogDrop', 'Segments dropped because the socket backlog (socket owned by the user) was full.', '{segment}'),
  counter('pfmemallocdrop', 'TcpExt:PFMemallocDrop', 'Segments dropped because they came from emergency (PF_MEMALLOC) memory.', '{segment}'),
  counter('tcpwqueuetoobig', 'TcpExt:TCPWqueueTooBig', 'Times a send queue was too big to split a segment for retransmission.', '{event}'),
  counter('embryonicrsts', 'TcpExt:EmbryonicRsts', 'Resets received for connections in SYN_RECV.', '{segment}'),
  counter('tcpmemorypressures', 'TcpExt:TCPMemoryPressures', 'Times TCP entered memory pressure.', '{event}'),
  counter('tcpmemorypressureschrono', 'TcpExt:TCPMemoryPressuresChrono', 'Total time TCP spent in memory pressure.', 'ms'),
];

export default defineProbe({ name: 'tcpext', metrics: METRICS, collect: snmpCollect(['netstat'], METRICS) });
