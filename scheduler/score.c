#include "scheduler/score.h"

#include <stdlib.h>
#include <string.h>

static int64_t least_requested(int64_t requested, int64_t capacity)
{
    if (capacity <= 0 || requested > capacity)
        return 0;
    return (capacity - requested) * SCHEDULER_MAX_SCORE / capacity;
}

int64_t scheduler_score_node(const struct scheduler_node *ni,
                             const struct scheduler_res *pod_nonzero)
{
    int64_t cpu = least_requested(ni->nonzero.milli_cpu + pod_nonzero->milli_cpu,
                                  ni->allocatable.milli_cpu);
    int64_t mem =
        least_requested(ni->nonzero.memory + pod_nonzero->memory, ni->allocatable.memory);
    return (cpu + mem) / 2;
}

int scheduler_score_select(const struct scheduler_node *const *nodes, const int64_t *scores,
                           size_t n, unsigned *rr)
{
    if (n == 0)
        return -1;
    int64_t best = scores[0];
    size_t ties = 0;
    for (size_t i = 1; i < n; i++)
        if (scores[i] > best)
            best = scores[i];
    for (size_t i = 0; i < n; i++)
        ties += scores[i] == best;
    /* the k-th tied node in name order, without sorting: count names below each */
    size_t k = (size_t)(*rr % ties);
    (*rr)++;
    for (size_t i = 0; i < n; i++) {
        if (scores[i] != best)
            continue;
        size_t below = 0;
        for (size_t j = 0; j < n; j++)
            if (j != i && scores[j] == best &&
                (strcmp(nodes[j]->name, nodes[i]->name) < 0 ||
                 (strcmp(nodes[j]->name, nodes[i]->name) == 0 && j < i)))
                below++;
        if (below == k)
            return (int)i;
    }
    return -1;
}
