"""Writes demo_addition.jsonl: 100 held-out two-number addition questions in the demo task's style.

Deterministic (seeded), so the committed file can be regenerated exactly:

    python assets/benchmarks/make_demo_addition.py
"""
import json
import random
from pathlib import Path

SHOPS = ["A shop", "The corner store", "A bakery", "The market stall", "A bookshop", "The florist", "A toy shop",
         "The grocery", "A hardware store", "The farm shop"]
ITEMS = ["apples", "loaves of bread", "notebooks", "tulips", "toy cars", "bags of rice", "hammers", "jars of honey",
         "oranges", "pencils", "candles", "cups of coffee"]
TEMPLATES = [
    ("{shop} sold {a} {item} in the morning and {b} in the afternoon. How many {item} did it sell in total?"),
    ("{shop} received {a} {item} on Monday and {b} on Tuesday. How many {item} did it receive altogether?"),
    ("{shop} had {a} {item} on the shelf and {b} more in the storeroom. How many {item} did it have in total?"),
    ("{shop} ordered {a} {item} last week and {b} this week. How many {item} did it order in total?"),
]


def main() -> None:
    rng = random.Random(20250523)
    seen = set()
    rows = []
    while len(rows) < 100:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        shop, item, tpl = rng.choice(SHOPS), rng.choice(ITEMS), rng.choice(TEMPLATES)
        q = tpl.format(shop=shop, item=item, a=a, b=b)
        if q in seen:
            continue
        seen.add(q)
        rows.append({"question": q, "answer": str(a + b)})
    out = Path(__file__).with_name("demo_addition.jsonl")
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} items to {out}")


if __name__ == "__main__":
    main()
