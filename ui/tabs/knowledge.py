"""The Knowledge tab: upload and ingest documents, see each one's chunks or failure, search the passages.

    tab = build(ctx)   # inside the shell's gr.Tabs
"""
from __future__ import annotations

import gradio as gr

from .. import views
from ..common import DEMO_CORPUS, OPEN_A_RUN, _need_store, _start
from ..security import SecurityError, gradio_upload_dir, save_upload
from .base import Ctx, Live, Tab


def build(ctx: Ctx) -> Tab:
    with gr.Tab("Knowledge", id="knowledge", elem_id="tab-knowledge"):
        know_md = gr.Markdown(elem_id="knowledge-summary")
        with gr.Row():
            upload = gr.File(label="Upload documents (.txt .md .pdf .html .docx .jsonl .csv)",
                             file_count="multiple", type="filepath", elem_id="upload")
            with gr.Column():
                ingest_btn = gr.Button("Ingest uploaded documents", variant="primary", elem_id="ingest")
                demo_corpus_btn = gr.Button("Add the demo corpus (shop ledger)", elem_id="ingest-demo")
                ingest_job_md = gr.Markdown(elem_id="ingest-job")
        docs_df = gr.Dataframe(label="Documents", interactive=False, elem_id="docs-table", max_height=300)
        gr.Markdown("**Search the run's passages**")
        with gr.Row():
            q_tb = gr.Textbox(label="query", scale=3, elem_id="search-query")
            mode_radio = gr.Radio(["bm25", "dense", "hybrid"], value="bm25", label="mode")
            k_slider = gr.Slider(1, 20, value=5, step=1, label="k")
            search_btn = gr.Button("Search", elem_id="search-btn")
        passages_df = gr.Dataframe(label="Passages", interactive=False, elem_id="passages-table",
                                   wrap=True, max_height=400)

    def render(live: Live) -> list:
        st = live.store
        if st is None:
            return [OPEN_A_RUN, views.pd.DataFrame(), ""]
        return [views.knowledge_summary(st), views.documents_table(st),
                views.job_line(live.jobs.get("ingest"), "ingest")]

    def wire() -> None:
        run_dd = ctx.run_dd
        upload.upload(save_uploads, [run_dd, upload], [know_md])
        ingest_btn.click(start_ingest, [run_dd], [ingest_job_md])
        demo_corpus_btn.click(start_ingest_demo, [run_dd], [ingest_job_md])
        search_btn.click(search, [run_dd, q_tb, mode_radio, k_slider], [passages_df])
        q_tb.submit(search, [run_dd, q_tb, mode_radio, k_slider], [passages_df])

    return Tab(outputs=[know_md, docs_df, ingest_job_md], render=render, wire=wire)


# -- handlers -------------------------------------------------------------------------------------------------
def save_uploads(run, files):
    st = _need_store(run)
    saved, problems = [], []
    for f in files or []:
        try:
            saved.append(save_upload(st.dir, f, upload_dir=gradio_upload_dir()).name)
        except (SecurityError, OSError) as e:
            problems.append(str(e))
    for p in problems:
        gr.Warning(p)
    msg = f"Copied {len(saved)} file(s) into the run's uploads folder: {', '.join(saved)}." if saved else ""
    if problems:
        msg += "\n\nRefused: " + "; ".join(views._md_escape(p) for p in problems)
    return msg + ("\n\nPress **Ingest uploaded documents** to index them." if saved else "")


def start_ingest(run):
    st = _need_store(run)
    up = st.dir / "uploads"
    if not up.is_dir() or not any(up.iterdir()):
        raise gr.Error("No uploaded documents yet: drop files on the upload box first (or add the demo corpus).")
    return _start(run, "ingest", ["ingest", run, str(up)])


def start_ingest_demo(run):
    _need_store(run)
    if not DEMO_CORPUS.is_dir():
        raise gr.Error(f"The demo corpus is missing at {DEMO_CORPUS}; reinstall synthrl from a source checkout.")
    return _start(run, "ingest", ["ingest", run, str(DEMO_CORPUS)])


def search(run, query, mode, k):
    st = _need_store(run)
    if not (query or "").strip():
        raise gr.Error("Type a search query first.")
    try:
        from synthrl.retrieval import get_retriever
    except ImportError:
        from synthrl.retrieval.index import get_retriever
    try:
        passages = get_retriever(st, mode=mode).retrieve(query, int(k))
    except Exception as e:  # noqa: BLE001 - retrieval errors are user-facing
        raise gr.Error(f"Search failed: {e}") from None
    if not passages:
        gr.Info("No passages matched; try other words or the dense/hybrid mode.")
    return views.passages_table(passages)
