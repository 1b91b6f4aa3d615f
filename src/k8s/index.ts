export { KubeClient, KubeApiError, SERVICE_ACCOUNT_DIR } from './client.js';
export type { KubeClientOptions, KubeObject, KubeList, ObjectMeta, ListOptions, WatchOptions, WatchEvent, WatchEventType } from './client.js';
export { Informer, objectKey } from './informer.js';
export type { InformerOptions } from './informer.js';
