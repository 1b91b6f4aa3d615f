// The configuration checks as one reconciled component: one scheduler over the checks of the
// enabled event probes, and the Kubernetes view the API-reading ones need. Options and the
// enabled set apply in place; what the view watches changing rebuilds both.
import { createChecks, KUBE_PROBES, PROBES, severityOf } from '../catalogue/index.js';
import { CheckScheduler, checkOptionsFromConfig, KubeView, type CheckOptions } from '../checks/index.js';
import type { AgentConfig } from '../config/index.js';
import type { EventPublisher } from '../events/model.js';
import { KubeClient } from '../k8s/client.js';
import type { Logger } from '../log.js';
import type { Entity } from '../model.js';
import type { Component } from './reconcile.js';

export interface ChecksSettings {
  /** Enabled event probes that have checks. */
  probes: string[];
  options: CheckOptions;
  /** Whether a check needs the API (and the agent runs in a cluster); what the view watches. */
  kube?: string;
}

export interface RunningChecks {
  scheduler: CheckScheduler;
  view?: KubeView;
}

const CHECK_PROBES = new Set(PROBES.filter((p) => p.event?.checks).map((p) => p.name));

/** The checks' section of the config; undefined when no check probe is enabled. */
export function checksSettings(config: AgentConfig, enabled: ReadonlySet<string>, nodeName: string): ChecksSettings | undefined {
  const probes = [...enabled].filter((p) => CHECK_PROBES.has(p)).sort();
  if (probes.length === 0) return undefined;
  const options = checkOptionsFromConfig(config.event_config.checks, nodeName);
  const wantKube = Boolean(process.env.KUBERNETES_SERVICE_HOST) && KUBE_PROBES.some((p) => probes.includes(p));
  return { probes, options, kube: wantKube ? JSON.stringify([options.kubeProxy, options.ipMasqAgent, options.nodeName]) : undefined };
}

export interface ChecksDeps {
  publisher: EventPublisher;
  log: Logger;
  /** The namespaces of the node for a run. */
  entities(): Promise<readonly Entity[]>;
}

export function checksComponent(deps: ChecksDeps): Component<ChecksSettings, RunningChecks> {
  let current: RunningChecks | undefined; // for the view's change callback
  return {
    name: 'event_config.checks',
    async build(s) {
      const view = s.kube ? await kubeView(s.options, () => current?.scheduler.trigger([...KUBE_PROBES]), deps.log) : undefined;
      const scheduler = new CheckScheduler({
        checks: createChecks({ kube: view }),
        publisher: deps.publisher,
        options: s.options,
        enabled: new Set(s.probes),
        entities: deps.entities,
        severity: severityOf,
        watchChanges: true,
      });
      scheduler.start();
      const changes = scheduler.changes();
      if (changes?.state === 'off') deps.log.warn('configuration changes are not heard: findings appear at the next checks interval', { error: changes.detail });
      else if (changes?.scope === 'node only') deps.log.warn("only the node's configuration changes are heard: pods' findings appear at the next checks interval", { reason: changes.detail });
      return (current = { scheduler, view });
    },
    update(running, s, previous) {
      if (s.kube !== previous.kube) return false;
      running.scheduler.update(s.options, new Set(s.probes));
      return true;
    },
    async close(running) {
      if (current === running) current = undefined;
      await running.scheduler.stop();
      await running.view?.stop();
    },
  };
}

async function kubeView(options: CheckOptions, onChange: () => void, log: Logger): Promise<KubeView | undefined> {
  try {
    return new KubeView(await KubeClient.inCluster(), options, onChange, log).start();
  } catch (e) {
    // The checks that need it report themselves unsupported; retried when the section changes.
    log.warn('Kubernetes API unavailable: the checks that read it are off', { probes: KUBE_PROBES, error: (e as Error).message });
    return undefined;
  }
}
