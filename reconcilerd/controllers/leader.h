/* leader — leader election over a coordination.k8s.io/v1 Lease, the way
 * kube-controller-manager does it (client-go's leaderelection package with a Lease
 * lock), so that several reconcilerd replicas on one etcd run their controllers on one
 * replica at a time.
 *
 * The Lease (bosun-system/bosun-controllers by default) is read and written through the
 * API of the reconcilerd this runs in (an API client like every controller), always as a
 * conditional update on its resourceVersion: two replicas can never both hold it, because
 * the second write of the same version is a 409.
 *
 *  - spec.holderIdentity names the leader; spec.leaseDurationSeconds, spec.acquireTime,
 *    spec.renewTime (MicroTime) and spec.leaseTransitions as Kubernetes writes them.
 *  - The leader renews every retry period. When no renewal succeeded for the renew
 *    deadline (measured on this process's monotonic clock from the start of the last
 *    successful one), or the Lease names someone else, it has lost: on_stopped runs and
 *    it goes back to being a candidate.
 *  - A candidate tries every retry period. It takes the Lease when nobody holds it
 *    (holderIdentity empty or missing: released), or when it has expired: renewTime +
 *    leaseDurationSeconds is past on this host's clock AND this replica has seen the same
 *    version of the Lease, unchanged, for at least the renew deadline on its monotonic
 *    clock. The first rule is the Lease's meaning (and bounds a takeover after a leader
 *    died to the lease duration: the candidate sleeps exactly until then); the second
 *    keeps it safe whatever the clocks say: a holder that has not renewed for the renew
 *    deadline has already stopped its controllers, and a live holder changes the Lease
 *    every retry period, so a candidate with a clock running far ahead never sees it
 *    unchanged for that long.
 *  - A candidate that takes the Lease from another holder sets acquireTime and counts
 *    leaseTransitions + 1; its own Lease (after a restart) is simply renewed.
 *  - ctrl_leader_stop releases a Lease it holds (holderIdentity "", leaseDurationSeconds
 *    1, as client-go's ReleaseOnCancel) so that another replica takes over at its next
 *    try instead of waiting for the lease to expire.
 *
 * Log lines (info): "leader election: <identity> became leader", "leader election:
 * <identity> lost leadership (<why>)", "leader election: <holder> is the leader". */
#ifndef BOSUN_CTRL_LEADER_H
#define BOSUN_CTRL_LEADER_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"

struct ctrl_leader;

/* Called on the election's thread. on_started runs when this replica became the leader;
 * a nonzero return gives the Lease back (and on_stopped is not called). on_stopped runs
 * when it stopped leading (lost, or ctrl_leader_stop) and returns once the work it
 * started has stopped. */
typedef int (*ctrl_leader_started_fn)(void *userdata);
typedef void (*ctrl_leader_stopped_fn)(void *userdata);

struct ctrl_leader_opts {
    const char *server;      /* "http://127.0.0.1:6443" — this reconcilerd */
    const char *token;       /* bearer token, or NULL */
    const char *ca_file;     /* PEM file for an https server, or NULL */
    const char *lease_ns;    /* [bosun-system] */
    const char *lease_name;  /* [bosun-controllers] */
    const char *identity;    /* unique per replica; required (copied) */
    int64_t lease_duration_ms; /* [15000]; written as whole seconds */
    int64_t renew_deadline_ms; /* [10000]; must be < lease_duration_ms */
    int64_t retry_period_ms;   /* [2000]; must be < renew_deadline_ms */
    ctrl_leader_started_fn on_started;
    ctrl_leader_stopped_fn on_stopped;
    void *userdata;
};

/* Starts the election thread. -EINVAL (err says why) for inconsistent timings or a
 * missing identity. */
int ctrl_leader_start(const struct ctrl_leader_opts *opts, struct ctrl_leader **out,
                      struct bosun_err *err);
/* Stops the election: if leading, calls on_stopped and then releases the Lease. Returns
 * when the thread has ended. NULL allowed. */
void ctrl_leader_stop(struct ctrl_leader *l);
/* Whether this replica leads right now. */
bool ctrl_leader_is_leader(struct ctrl_leader *l);

/* ---- pure logic (unit-tested) ---- */

/* What a Lease says, times in milliseconds since the epoch (0 when absent or
 * unparsable). */
struct ctrl_leader_record {
    char holder[256];     /* "" = nobody */
    int64_t duration_s;   /* leaseDurationSeconds, 0 when absent */
    int64_t acquire_ms;
    int64_t renew_ms;
    int64_t transitions;
    char rv[32];          /* metadata.resourceVersion */
};

/* Reads lease (borrowed) into out. Returns 0, or -EINVAL when it is not a Lease object. */
int ctrl_leader_record_parse(const json_t *lease, struct ctrl_leader_record *out);

/* Milliseconds until a candidate may take rec (<= 0: now), by the rules above: 0 for a
 * Lease nobody holds; otherwise the later of renew_ms + duration_s (wall clock, now_ms)
 * and observed_mono_ms + renew_deadline_ms (monotonic clock, now_mono_ms), where
 * observed_mono_ms is when this replica first saw rec's resourceVersion. A Lease without
 * renewTime or duration counts as renewed when it was first seen, for the default
 * duration. */
int64_t ctrl_leader_expires_in(const struct ctrl_leader_record *rec, int64_t now_ms,
                               int64_t observed_mono_ms, int64_t now_mono_ms,
                               int64_t renew_deadline_ms, int64_t default_duration_ms);

/* Whether a leader whose last successful renewal started at last_ok_mono_ms has to give
 * up at now_mono_ms. */
bool ctrl_leader_deadline_passed(int64_t last_ok_mono_ms, int64_t now_mono_ms,
                                 int64_t renew_deadline_ms);

/* The Lease to write for identity at now_ms (new reference): cur (borrowed; NULL = none
 * exists yet) with spec.holderIdentity = identity, leaseDurationSeconds, renewTime = now
 * and, when the holder changes, acquireTime = now and leaseTransitions + 1 (0 for a new
 * Lease). metadata.resourceVersion is kept, so a PUT of it is conditional. */
json_t *ctrl_leader_lease_take(const json_t *cur, const char *ns, const char *name,
                               const char *identity, int64_t duration_s, int64_t now_ms);

/* The Lease that gives cur up (new reference): holderIdentity "", leaseDurationSeconds 1,
 * acquireTime = renewTime = now, leaseTransitions kept. */
json_t *ctrl_leader_lease_release(const json_t *cur, int64_t now_ms);

/* Formats ms since the epoch as a Kubernetes MicroTime ("2006-01-02T15:04:05.000000Z")
 * into buf (>= 48 bytes). Returns buf. */
char *ctrl_leader_microtime(int64_t ms, char *buf, size_t len);
/* Parses an RFC 3339 time with optional fraction into ms since the epoch. 0 or -EINVAL. */
int ctrl_leader_parse_time(const char *s, int64_t *out_ms);

#endif
