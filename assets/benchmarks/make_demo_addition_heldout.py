"""Writes demo_addition_heldout.jsonl: 240 two-number addition word problems phrased UNLIKE the demo
task's training questions (people, classrooms, trips, savings; no shop ledgers, no "in total" templates).

The demo's headline figure (base vs trained) is measured on this file. Deterministic (seeded):

    python assets/benchmarks/make_demo_addition_heldout.py
"""
import json
import random
from pathlib import Path

NAMES = ["Maya", "Tom", "Priya", "Leo", "Aisha", "Ben", "Sofia", "Omar", "Lena", "Jack", "Nina", "Sam"]
THINGS = ["marbles", "stickers", "stamps", "shells", "coins", "beads", "cards", "pebbles", "buttons", "feathers"]
TEMPLATES = [
    "{name} has {a} {thing}. A friend gives {name} {b} more. How many {thing} does {name} have now?",
    "There are {a} children on the first bus and {b} children on the second bus. How many children are there on "
    "both buses?",
    "{name} read {a} pages yesterday and {b} pages today. How many pages has {name} read over the two days?",
    "A garden has {a} red roses and {b} white roses. How many roses grow in the garden?",
    "{name} saved {a} dollars in March and {b} dollars in April. How much money did {name} save in those two "
    "months?",
    "A train carries {a} passengers in the front car and {b} in the back car. How many passengers are on the "
    "train?",
    "{name} collected {a} {thing} at the beach, then found {b} more at the park. How many {thing} did {name} "
    "collect?",
    "What do you get when you add {a} and {b}?",
    "A school choir has {a} girls and {b} boys. How many singers are in the choir?",
    "{name} walked {a} minutes in the morning and {b} minutes in the evening. For how many minutes did {name} "
    "walk that day?",
]


def main() -> None:
    rng = random.Random(20261126)
    seen, rows = set(), []
    while len(rows) < 240:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        q = rng.choice(TEMPLATES).format(name=rng.choice(NAMES), thing=rng.choice(THINGS), a=a, b=b)
        if q in seen:
            continue
        seen.add(q)
        rows.append({"question": q, "answer": str(a + b)})
    out = Path(__file__).with_name("demo_addition_heldout.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} items to {out}")


if __name__ == "__main__":
    main()
