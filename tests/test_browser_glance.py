"""The Map tab's click-through and the Train tab's per-run curves, in headless Chromium (real app, temp runs)."""
from __future__ import annotations

import os

import pytest

from test_browser import App, open_run, tab, wait_text  # noqa: F401 - fixtures and helpers shared
from test_browser import browser, page  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def glance(tmp_path_factory):
    """Run 'atlas': populated, its map computed (stand-in embeddings), and two training runs (GRPO, then PPO)."""
    from test_glance import bag_of_words

    runs = tmp_path_factory.mktemp("runs")
    old = os.environ.get("SYNTHRL_RUNS")
    os.environ["SYNTHRL_RUNS"] = str(runs)
    try:
        from synthrl import atlas
        from synthrl.store import RunStore
        from populated_run import populate_run

        st = populate_run(RunStore.open("atlas"), n=40, seed=3, with_training=False)
        atlas.update_map(st, embed=bag_of_words)
        sel = st.selections()[-1]["id"] if st.selections() else None
        for algo, steps in (("grpo", 3), ("ppo", 2)):
            rid = st.start_training_run(sel, algo, str(st.dir / "checkpoints" / "selection-1"))
            for s in range(1, steps + 1):
                st.add_metrics(s, {"train/reward": 0.1 * s, "train/kl": 0.01 * s}, train_run=rid)
                st.add_rollouts(s, [(f"{algo} prompt {s}", "42", 1.0)], train_run=rid)
            st.update_training_run(rid, state="done", steps=steps)
        st.close()
    finally:
        if old is None:
            os.environ.pop("SYNTHRL_RUNS", None)
        else:
            os.environ["SYNTHRL_RUNS"] = old
    app = App(runs, runs.parent / "app.log")
    yield app
    app.close()


def test_map_click_opens_the_sample_in_review(page, glance):
    open_run(page, glance, "atlas")
    tab(page, "Map")
    page.locator("#map-plot .js-plotly-plot").wait_for()
    wait_text(page, "#coverage", "Passages used")
    # Plotly's own hit-testing needs WebGL; emit the click event it would emit for a sample point
    sid = page.evaluate("""() => {
        const gd = document.querySelector('#map-plot .js-plotly-plot');
        const trace = gd.data.find(t => (t.name || '').startsWith('samples'));
        return trace.customdata[3];
    }""")
    # the plot may be redrawn once more after the tab opens; click until the detail shows the sample
    page.wait_for_function("""(sid) => {
        const gd = document.querySelector('#map-plot .js-plotly-plot');
        if (gd && gd.__synthrlHooked) { gd.emit('plotly_click', {points: [{customdata: sid}]}); }
        return (document.querySelector('#sample-detail')?.innerText || '').includes(`Sample ${sid} ·`);
    }""", arg=sid, polling=1500)
    assert page.locator("#tab-review").is_visible()
    assert page.locator("#sample-id input").input_value() == str(sid)


def test_each_training_run_is_its_own_series(page, glance):
    open_run(page, glance, "atlas")
    tab(page, "Train")
    wait_text(page, "#train-summary", "#2 PPO")
    page.locator("#train-plot .legend").first.wait_for()
    legend = page.locator("#train-plot .legend").first.text_content()
    assert "#1 GRPO" in legend and "#2 PPO" in legend
    page.locator("#tr-completions").click()
    wait_text(page, "#completions-table", "ppo prompt")
