// virtcmdlatency: how long virtio-net control commands take (ACK's probe). It needs a kprobe on
// virtnet_send_command and no tracepoint covers that path, so this build has none: the probe is
// accepted in the config and /status says why it does nothing.
import { defineProbe, event } from './probe.js';

export default defineProbe({
  name: 'virtcmdlatency',
  aliases: ['virtcmdlat'],
  events: [event('VIRTCMD_SLOW', 'WARN', 'A virtio-net control command took longer than the threshold.')],
  notBuilt: 'needs a kprobe on virtnet_send_command; this kernel has no kprobes and no tracepoint covers it',
});
