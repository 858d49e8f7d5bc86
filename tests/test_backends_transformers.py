"""The local backends: transformers (tiny model + the bundled one) and vllm's absence."""
import importlib.util
import json
import shutil
import threading

import pytest

from synthrl.backends import BackendError, BackendUnavailable, GenerationParams, get_backend
from synthrl.backends.spec import ModelSpec, load_model

SCHEMA = {"type": "object", "properties": {"input": {"type": "string"}, "output": {"type": "string"}},
          "required": ["input", "output"]}
CONVS = [
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "a much longer question with many words in it, " * 3}],
    [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+3?"}],
]


def _save_tiny(folder, seed=0):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from synthrl.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model("bundled"))
    # initializer_range 0.3: logits far apart, so greedy choices are not near-ties
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                      bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                      initializer_range=0.3, tie_word_embeddings=True)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(str(folder))
    tok.save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return _save_tiny(tmp_path_factory.mktemp("tiny") / "tiny-llama")


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    return get_backend("transformers", model=str(tiny_dir), device="cpu")


def test_batched_greedy_equals_one_at_a_time(tiny):
    p = GenerationParams(temperature=0, max_tokens=12)
    one_by_one = [tiny.chat([c], p)[0][0].text for c in CONVS]
    assert len(set(one_by_one)) == 3  # the prompts lead to different answers
    assert [o[0].text for o in tiny.chat(CONVS, p)] == one_by_one
    # micro-batches of 2 rows, n=2: still the same greedy answers, twice each
    tiny.max_batch_size = 2
    try:
        outs = tiny.chat(CONVS, GenerationParams(temperature=0, max_tokens=12, n=2))
    finally:
        tiny.max_batch_size = 16
    assert [[c.text for c in o] for o in outs] == [[t, t] for t in one_by_one]


def test_n_samples_share_one_reading_of_the_prompt(tiny):
    """n samples come from one prefill of each prompt, its cache copied n times: at a near-zero
    temperature every sample must be the greedy answer, for prompts of different lengths (left padding)."""
    greedy = [o[0].text for o in tiny.chat(CONVS, GenerationParams(temperature=0, max_tokens=12))]
    near_greedy = GenerationParams(n=3, temperature=1e-5, max_tokens=12, seed=0)
    for share in (True, False):
        tiny.share_prefix = share
        try:
            outs = tiny.chat(CONVS, near_greedy)
        finally:
            tiny.share_prefix = True
        assert [[c.text for c in o] for o in outs] == [[t] * 3 for t in greedy], f"share_prefix={share}"


FEWSHOT = [{"role": "system", "content": "Answer as: a + b = total"},
           {"role": "user", "content": "A shop sold 23 apples and 41 pears. How many fruits?"},
           {"role": "assistant", "content": "23 + 41 = 64"},
           {"role": "user", "content": "A farm had 35 hens and 18 ducks. How many birds?"},
           {"role": "assistant", "content": "35 + 18 = 53"}]


def test_prompts_with_a_common_start_read_it_once_and_answer_as_alone(tiny):
    """Few-shot prompts share their demos: those tokens are read once per micro-batch and their cache copied
    to every row (the rest of each prompt after the padding). Answers must be what each prompt gets alone."""
    from synthrl.backends.transformers_backend import MIN_SHARED_PREFIX, _common_prefix

    convs = [FEWSHOT + [{"role": "user", "content": q}] for q in
             ("Jack has 70 stickers and gets 66 more. How many now?", "7 + 8?",
              "A garden has 47 red roses and 51 white roses, and a long hedge. How many roses grow there?")]
    encoded = [tiny.tokenizer(tiny._render(c), add_special_tokens=False)["input_ids"] for c in convs]
    assert _common_prefix(encoded) >= MIN_SHARED_PREFIX and len({len(e) for e in encoded}) == 3
    greedy = GenerationParams(temperature=0, max_tokens=12)
    alone = [tiny.chat([c], greedy)[0][0].text for c in convs]
    assert len(set(alone)) == 3
    assert [o[0].text for o in tiny.chat(convs, greedy)] == alone
    near_greedy = GenerationParams(n=3, temperature=1e-5, max_tokens=12, seed=0)
    assert [[c.text for c in o] for o in tiny.chat(convs, near_greedy)] == [[t] * 3 for t in alone]
    tiny.share_prefix = False
    try:
        assert [o[0].text for o in tiny.chat(convs, greedy)] == alone
    finally:
        tiny.share_prefix = True


def test_n_samples_with_seed_are_reproducible(tiny):
    p = GenerationParams(n=3, temperature=1.0, max_tokens=10, seed=7)
    a = tiny.chat(CONVS[:2], p)
    assert [len(o) for o in a] == [3, 3]
    assert len({c.text for c in a[0]}) > 1  # sampled, not copies
    assert [[c.text for c in o] for o in tiny.chat(CONVS[:2], p)] == [[c.text for c in o] for o in a]
    other = tiny.chat(CONVS[:2], GenerationParams(n=3, temperature=1.0, max_tokens=10, seed=8))
    assert [[c.text for c in o] for o in other] != [[c.text for c in o] for o in a]
    for c in a[0]:
        assert 1 <= c.completion_tokens <= 10 and c.finish_reason in ("stop", "length") and c.prompt_tokens > 0
    assert a[1][0].prompt_tokens > a[0][0].prompt_tokens


def test_concurrent_callers_get_the_same_answers(tiny):
    p = GenerationParams(temperature=0, max_tokens=8)
    expected = [o[0].text for o in tiny.chat(CONVS, p)]
    got = {}

    def call(i):
        got[i] = [o[0].text for o in tiny.chat(CONVS, p)]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(got[i] == expected for i in range(3))


def test_schema_constrained_sampling_gives_json_for_every_row(tiny):
    # a random tiny model would never write JSON by itself; the grammar makes every sample valid
    p = GenerationParams(n=2, temperature=1.0, max_tokens=40, seed=1, json_schema=SCHEMA)
    outs = tiny.chat(CONVS, p)
    tiny.chat(CONVS[:1], p)
    for o in outs:
        assert len(o) == 2
        for c in o:
            assert set(json.loads(c.text)) == {"input", "output"}, c.text
    assert tiny.grammars().compiles == 1  # compiled once, reused


def test_version_identifies_the_weights(tiny, tiny_dir, tmp_path):
    assert tiny.version.startswith("tiny-llama@")
    assert get_backend("transformers", model=str(tiny_dir)).version == tiny.version
    ckpt = shutil.copytree(tiny_dir, tmp_path / "checkpoint-10")
    _save_tiny(ckpt, seed=1)
    v = get_backend("transformers", model=str(ckpt)).version
    assert v.startswith("checkpoint-10@") and v != tiny.version


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(BackendError, match="model folder not found"):
        get_backend("transformers", model=str(tmp_path / "nope"))


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_vllm_absent_says_how_to_install():
    with pytest.raises(BackendUnavailable, match=r"vllm is not installed; on a GPU machine: pip install 'synthrl\[vllm\]'"):
        load_model(ModelSpec(backend="vllm", model="bundled"))


def test_bundled_model_writes_valid_json_for_every_item_of_a_batch():
    model = load_model(ModelSpec(device="cpu"))
    asks = ["a math word problem", "a question about France", "a riddle", "a yes/no question about contracts"]
    convs = [[{"role": "user", "content": f"Write {a} and its answer as JSON with keys input and output."}]
             for a in asks]
    outs = model.chat(convs, GenerationParams(temperature=0.7, max_tokens=32, seed=0, json_schema=SCHEMA))
    for o in outs:
        data = json.loads(o[0].text)
        assert set(data) == {"input", "output"} and all(isinstance(v, str) for v in data.values())
