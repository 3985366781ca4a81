#include "nodeagent/crashloop.h"

#define CRASHLOOP_EXITS_CAP 64

int64_t crashloop_next(struct crashloop *c, int64_t ran_ms)
{
    if (ran_ms >= CRASHLOOP_RESET_MS)
        c->exits = 0;
    if (c->exits == 0) {
        backoff_init(&c->b, CRASHLOOP_INITIAL_MS, CRASHLOOP_MAX_MS);
        c->exits = 1;
        return 0;
    }
    if (c->exits < CRASHLOOP_EXITS_CAP)
        c->exits++;
    return backoff_next(&c->b);
}

void crashloop_restore(struct crashloop *c, int exits)
{
    c->exits = 0;
    if (exits <= 0)
        return;
    crashloop_next(c, 0);
    for (int i = 1; i < exits && i < CRASHLOOP_EXITS_CAP; i++)
        crashloop_next(c, 0);
}
