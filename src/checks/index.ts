// The machinery of the configuration checks; the checks themselves are the event probes that
// declare `checks` (src/probes/), and the runtime builds one scheduler over them.
//
//   const scheduler = new CheckScheduler({ checks, publisher, options, entities, enabled, severity });
//   scheduler.start();                       // runs now, then every options.intervalSeconds
//   scheduler.trigger();                      // entities changed (new pods): run soon
//   scheduler.update(newOptions, newEnabled); // hot reload
//   scheduler.status();                       // for /status: per check ok/error/unsupported/disabled
//   scheduler.changes();                      // with `watchChanges`: whether kernel notifications trigger runs (checks/changes.ts)
//   await scheduler.stop();
// A metric probe exports the findings of every started scheduler.
export { CheckScheduler, activeFindings, type CheckStatus, type SchedulerOptions } from './scheduler.js';
export { checkOptions, DEFAULT_CHECK_OPTIONS, type Check, type CheckOptions, type Finding } from './model.js';
export { checkOptionsFromConfig, type ChecksConfig } from './config.js';
export { KubeView } from './kubeview.js';
