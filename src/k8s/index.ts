export { KubeClient, KubeApiError, SERVICE_ACCOUNT_DIR } from './client.js';
export type { KubeClientOptions, KubeObject, KubeList, ObjectMeta, ListOptions, WatchOptions, WatchEvent, WatchEventType } from './client.js';
export { Informer, objectKey } from './informer.js';
export type { InformerOptions, InformerStatus } from './informer.js';
export { reviewAccess, reviewToken } from './review.js';
export type { AccessVerdict, ReviewedUser, TokenVerdict } from './review.js';
export { kubeconfigPath, kubeconfigToken } from './kubeconfig.js';
export type { KubeconfigOptions, KubeconfigToken } from './kubeconfig.js';
