/* nodepods — the pods bound to a node, read from the store for the node rules of authz
 * (which Secrets and ConfigMaps a node may read, the rules a node lists).
 *
 * There is no index on spec.nodeName: a Secret or ConfigMap can only be referenced by pods
 * of its own namespace, so one namespace's pods are scanned, from the store's raw bytes
 * (store_list_raw). A pod is parsed only when its bytes contain "nodeName":<node> and, when
 * asked, the JSON string of a name it must mention; everything else is skipped with a
 * memmem, and nothing is cached. The answer is read from the store at the time of the call,
 * so a pod bound a moment before is seen (no informer lag). */
#ifndef BOSUN_API_NODEPODS_H
#define BOSUN_API_NODEPODS_H

#include <jansson.h>

#include "lib/err.h"
#include "reconcilerd/store/store.h"

/* The pods in namespace ns whose spec.nodeName is node, as a new array (*out, owned by the
 * caller). mention (may be NULL): only pods whose JSON holds that string somewhere (a
 * Secret's name), a pre-filter that never drops a pod referencing it. The store's errors
 * are passed on. */
int api_node_pods(struct store *st, const char *node, const char *ns, const char *mention,
                  json_t **out, struct bosun_err *err);

#endif
