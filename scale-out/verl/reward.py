"""GAPO Assistant's reward for verl: the same scores as server/src/gapo/reward.ts.

verl loads it through its config:

    custom_reward_function.path=scale-out/verl/reward.py
    custom_reward_function.name=compute_score

The exported episodes (`gapo export --format verl`) carry data_source "gapo-assistant/edits", a
prompt in the project's edit format, and the region as the user left it as
reward_model.ground_truth. The model answers with the rewritten region followed by the end
marker; the answer is cut there, as the engine cuts it, and scored with the paper's `edem`:
the mean of exact match and normalised edit similarity. Python's standard library only.
"""

import os
import re
import sys

# verl imports this module (custom_reward_function.path) in its TaskRunner, the process that
# also computes advantages: GAPO's estimator is registered there, beside it in gapo.py.
if 'verl' in sys.modules:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gapo

    gapo.register()

DATA_SOURCE = 'gapo-assistant/edits'
REGION_END = '<|editable_region_end|>'

# What JavaScript's String.prototype.trim strips (WhiteSpace and LineTerminator), so that exact
# match agrees with the TypeScript reward to the character (Python's str.strip differs).
_JS_WHITESPACE = '\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff'


def normalize_line_endings(text):
    return re.sub(r'\r\n?', '\n', text)


def extract_region(generated):
    """A model's answer, cut at the end marker (a model may write past it)."""
    end = generated.find(REGION_END)
    return generated[:end] if end >= 0 else generated


def exact_match(prediction, target):
    """1.0 when prediction and target agree once surrounding white space is stripped, else 0.0."""
    a = normalize_line_endings(prediction).strip(_JS_WHITESPACE)
    b = normalize_line_endings(target).strip(_JS_WHITESPACE)
    return 1.0 if a == b else 0.0


def levenshtein(a, b):
    """Edit distance in characters (code points), two rows of the dynamic programme."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(prediction, target):
    """1 - Levenshtein distance / the longer length; 1.0 when both are empty."""
    a = normalize_line_endings(prediction)
    b = normalize_line_endings(target)
    longer = max(len(a), len(b))
    if longer == 0:
        return 1.0
    return 1 - levenshtein(a, b) / longer


def edem(prediction, target):
    """The paper's reward: the mean of exact match and edit similarity."""
    return (exact_match(prediction, target) + edit_similarity(prediction, target)) / 2


METRICS = {'em': exact_match, 'edit': edit_similarity, 'edem': edem}


def compute_score(data_source, solution_str, ground_truth, extra_info=None):
    """verl's custom reward signature: the edem of the answer's region against the user's."""
    if data_source != DATA_SOURCE:
        raise NotImplementedError(f'this reward scores {DATA_SOURCE} episodes, not {data_source!r}')
    return edem(extract_region(solution_str), ground_truth)


if __name__ == '__main__':
    # A check from the shell: JSON lines of {"metric", "prediction", "target"} in, one score out each.
    import json
    import sys

    for line in sys.stdin:
        row = json.loads(line)
        print(repr(METRICS[row['metric']](row['prediction'], row['target'])))
