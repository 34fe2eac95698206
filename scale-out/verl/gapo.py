"""GAPO's advantage (arXiv 2510.21830) as server/src/gapo/advantages.ts computes it, for verl.

For one prompt's group of G rewards: sort them; take the shortest window holding ceil(G*tau)
of them (the first such window on ties), the highest-density interval; its median is the
reference point Q; each advantage is (r - Q) / (RMS deviation of the rewards from Q, with G - 1
in the denominator, + epsilon). A group of one, or of equal rewards, has zero advantages.

`gapo_advantages(rewards, tau=0.5)` is one group's. `register()` adds it to verl's advantage
estimator registry as "gapo" (verl.trainer.ppo.core_algos.register_adv_est), so that
`algorithm.adv_estimator=gapo` selects it, with tau from the environment (GAPO_TAU, default
0.5). reward.py calls it when verl imports the reward module: that happens in verl's
TaskRunner, the process that computes advantages. Python's standard library only, outside verl.
"""

import math
import os

EPSILON = 1e-6


def highest_density_interval(sorted_rewards, tau):
    """(start, size) of the shortest window of ceil(G*tau) consecutive sorted rewards."""
    n = len(sorted_rewards)
    size = min(n, max(1, math.ceil(n * tau)))
    start = 0
    for i in range(1, n - size + 1):
        if sorted_rewards[i + size - 1] - sorted_rewards[i] < sorted_rewards[start + size - 1] - sorted_rewards[start]:
            start = i
    return start, size


def _median(sorted_values):
    middle = len(sorted_values) // 2
    if len(sorted_values) % 2 == 1:
        return sorted_values[middle]
    return (sorted_values[middle - 1] + sorted_values[middle]) / 2


def gapo_reference(rewards, tau=0.5):
    """Q: the median of the rewards' highest-density interval."""
    ordered = sorted(rewards)
    start, size = highest_density_interval(ordered, tau)
    return _median(ordered[start:start + size])


def gapo_advantages(rewards, tau=0.5, epsilon=EPSILON):
    """One group's advantages: (r - Q) / (RMS deviation from Q + epsilon)."""
    rewards = [float(r) for r in rewards]
    if not 0 < tau <= 1:
        raise ValueError(f'tau must be in (0, 1], got {tau}')
    if any(not math.isfinite(r) for r in rewards):
        raise ValueError('rewards must be finite numbers')
    if len(rewards) < 2 or all(r == rewards[0] for r in rewards):
        return [0.0 for _ in rewards]
    center = gapo_reference(rewards, tau)
    spread = math.sqrt(sum((r - center) ** 2 for r in rewards) / (len(rewards) - 1))
    return [(r - center) / (spread + epsilon) for r in rewards]


def register():
    """Registers "gapo" with verl's advantage estimators (verl >= 0.4's register_adv_est)."""
    import torch
    from collections import defaultdict
    from verl.trainer.ppo import core_algos

    @core_algos.register_adv_est('gapo')
    def compute_gapo_outcome_advantage(token_level_rewards, response_mask, index, epsilon=EPSILON, config=None, **kwargs):
        # verl's algorithm config is a dataclass that takes no new keys: τ comes from the environment.
        tau = float(os.environ.get('GAPO_TAU', '0.5'))
        scores = token_level_rewards.sum(dim=-1)
        groups = defaultdict(list)
        for i in range(scores.shape[0]):
            groups[index[i]].append(i)
        advantages = torch.zeros_like(scores)
        for members in groups.values():
            values = gapo_advantages([scores[i].item() for i in members], tau, epsilon)
            for i, value in zip(members, values):
                advantages[i] = value
        advantages = advantages.unsqueeze(-1) * response_mask
        return advantages, advantages

    return compute_gapo_outcome_advantage


if __name__ == '__main__':
    # A check from the shell: JSON lines of {"rewards", "tau"} in, the advantages out.
    import json
    import sys

    for line in sys.stdin:
        row = json.loads(line)
        print(json.dumps([repr(a) for a in gapo_advantages(row['rewards'], row['tau'])]))
