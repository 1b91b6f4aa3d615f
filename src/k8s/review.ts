// Delegated authentication and authorization through the API server, as kube-rbac-proxy and the
// kubelet do: a TokenReview says whose a bearer token is, a SubjectAccessReview whether that
// user may use a verb on a path (a nonResourceURL, granted by a ClusterRole's nonResourceURLs).
import type { KubeClient } from './client.js';

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type TokenVerdict = { authenticated: true; user: ReviewedUser } | { authenticated: false; error: string };

/**
 * Who holds `token`, per the API server. `audiences` (when given) must be ones the token was
 * issued for. Throws (KubeApiError) only when the API gives no verdict.
 */
export async function reviewToken(kube: KubeClient, token: string, audiences: readonly string[] = [], signal?: AbortSignal): Promise<TokenVerdict> {
  const review = await kube.create<{ status?: { authenticated?: boolean; user?: ReviewedUser; audiences?: string[]; error?: string } }>(
    '/apis/authentication.k8s.io/v1/tokenreviews',
    { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, ...(audiences.length ? { audiences } : {}) } },
    signal,
  );
  const s = review.status ?? {};
  if (s.authenticated !== true || !s.user?.username) return { authenticated: false, error: s.error || 'token not authenticated' };
  // An audience-aware server answers with the audiences the token matched; none of ours is a refusal.
  if (audiences.length && s.audiences && !s.audiences.some((a) => audiences.includes(a))) {
    return { authenticated: false, error: `token is not for audiences ${audiences.join(', ')}` };
  }
  return { authenticated: true, user: s.user };
}

export interface AccessVerdict {
  allowed: boolean;
  /** The authorizer's reason, when it gave one. */
  reason?: string;
}

/** Whether `user` may `verb` the non-resource `path` (e.g. get /metrics). Throws only when the API gives no verdict. */
export async function reviewAccess(kube: KubeClient, user: ReviewedUser, path: string, verb: string, signal?: AbortSignal): Promise<AccessVerdict> {
  const review = await kube.create<{ status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string } }>(
    '/apis/authorization.k8s.io/v1/subjectaccessreviews',
    {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        user: user.username,
        ...(user.uid ? { uid: user.uid } : {}),
        ...(user.groups ? { groups: user.groups } : {}),
        ...(user.extra ? { extra: user.extra } : {}),
        nonResourceAttributes: { path, verb },
      },
    },
    signal,
  );
  const s = review.status ?? {};
  return { allowed: s.allowed === true && s.denied !== true, reason: s.reason || s.evaluationError || undefined };
}
