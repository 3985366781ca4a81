/* crashloop — the restart back-off policy of containers, as the kubelet has it, on top
 * of lib/backoff.
 *
 * The first restart of a container happens at once; each further one waits 10 s,
 * doubling up to 5 min. A container that ran 10 min before exiting starts over. */
#ifndef BOSUN_NODEAGENT_CRASHLOOP_H
#define BOSUN_NODEAGENT_CRASHLOOP_H

#include <stdint.h>

#include "lib/backoff.h"

#define CRASHLOOP_INITIAL_MS 10000
#define CRASHLOOP_MAX_MS 300000
#define CRASHLOOP_RESET_MS 600000

struct crashloop {
    int exits;        /* exits in a row without a 10-minute run in between (capped) */
    struct backoff b; /* the delays after the first, immediate, restart */
};

/* A container exited after running ran_ms: returns how long to wait before starting it
 * again, and advances the state. A zeroed struct crashloop is a fresh one. */
int64_t crashloop_next(struct crashloop *c, int64_t ran_ms);

/* Rebuilds the state after `exits` exits (an agent restart reads that count back). */
void crashloop_restore(struct crashloop *c, int exits);

#endif
