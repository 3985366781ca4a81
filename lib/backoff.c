#include "lib/backoff.h"

void backoff_init(struct backoff *b, int64_t initial_ms, int64_t max_ms)
{
    if (initial_ms <= 0)
        initial_ms = 1;
    if (max_ms < initial_ms)
        max_ms = initial_ms;
    b->initial_ms = initial_ms;
    b->max_ms = max_ms;
    b->next_ms = initial_ms;
    b->failures = 0;
}

int64_t backoff_next(struct backoff *b)
{
    int64_t d = b->next_ms;
    /* Compared before doubling so that a large max cannot overflow. */
    b->next_ms = d > b->max_ms / 2 ? b->max_ms : d * 2;
    b->failures++;
    return d;
}

int64_t backoff_peek(const struct backoff *b)
{
    return b->next_ms;
}

void backoff_reset(struct backoff *b)
{
    b->next_ms = b->initial_ms;
    b->failures = 0;
}
