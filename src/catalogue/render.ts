// Renders the catalogue as Markdown reference docs: `node dist/src/catalogue/render.js > otel/catalogue.md`.
// A test keeps otel/catalogue.md identical to this output.
import { pathToFileURL } from 'node:url';
import { ackName, EVENTS, kceName, METRIC_PROBES, METRICS, PROBES, probeOptions } from './index.js';

export function renderCatalogue(): string {
  const out = [
    '# Metric catalogue',
    '',
    'Generated from the probe modules (`src/probes/`) by `node dist/src/catalogue/render.js`; do not edit by hand.',
    '',
    'Every series carries `k8s_node` and `netns`; pod series also `k8s_namespace` and `k8s_pod`',
    '(`node`, `namespace`, `pod` with `naming: inspector`). `verbose: true` adds `k8s_pod_ip` and `label_<pod label>`.',
    'The OpenTelemetry instrument name is the default name; OTLP attributes use `k8s.*` semantic conventions.',
    '',
  ];
  for (const probe of METRIC_PROBES) {
    out.push(`## ${probe}`, '', '| name (default) | name (`naming: inspector`) | type | unit | labels | source | description |', '|---|---|---|---|---|---|---|');
    for (const m of METRICS.filter((x) => x.probe === probe)) {
      out.push(`| \`${kceName(m)}\` | \`${ackName(m)}\` | ${m.type} | ${m.unit} | ${m.labels?.join(', ') ?? ''} | ${m.source.replace(/\|/g, '\\|')} | ${m.help}${m.sampled ? ` *${m.sampled}*` : ''} |`);
    }
    out.push('');
  }
  out.push('# Event catalogue', '', 'Generated from the probe modules. Every event carries `timestamp` (ns, the kernel\'s or the check\'s time), `type`, `msg`, `severity`, `node`, `namespace`, `pod` and `netns`, then its own attributes.', '',
    '| type | probe | severity | meaning |', '|---|---|---|---|');
  for (const e of EVENTS) out.push(`| \`${e.type}\` | ${e.probe} | ${e.severity} | ${e.help} |`);
  out.push('', '# Probe names and options', '',
    'Probe names are case-insensitive in the config; these other spellings are accepted too. Options are keys of the config section named.',
    'An opt-in probe is not in the default probe lists: a config turns it on by naming it (an empty list means every probe).', '',
    '| probe | also accepted as | options | default |', '|---|---|---|---|');
  for (const p of PROBES) {
    const options = p.options.map((o) => `\`${o.section}.${o.key}\``).join(', ');
    out.push(`| ${p.name} | ${p.aliases.map((a) => `\`${a}\``).join(', ')} | ${options} | ${p.optIn ? `opt-in: ${p.optIn}` : 'on'} |`);
  }
  out.push('', '| option | default | meaning |', '|---|---|---|');
  for (const section of ['metric_config', 'event_config', 'event_config.checks'] as const) {
    for (const { option: o, probes } of probeOptions(section)) {
      out.push(`| \`${section}.${o.key}\` | \`${JSON.stringify(o.schema.default)}\` | ${o.schema.description} (${probes.join(', ')}) |`);
    }
  }
  for (const p of PROBES) if (p.docs) out.push('', `## ${p.name}: ${p.docs.title}`, '', p.docs.text);
  out.push('');
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) process.stdout.write(renderCatalogue());
