"""The answer checker: extraction per format, normalisation per type, the reward."""
import pytest

from conftest import TASKS
from synthrl.scoring import answers_equal, extract, is_correct, make_reward, normalize_number
from synthrl.task import AnswerSpec, TaskDefinition, TaskError, load_task


def make_task(type_, fmt, choices=(), labels=()):
    return TaskDefinition("t", "a task", "a question", "answer it",
                          AnswerSpec(type_, tuple(choices), tuple(labels), fmt))


NUM_HASH = make_task("number", "####")
NUM_PLAIN = make_task("number", "plain")
NUM_TAGS = make_task("number", "tags")
MATH = make_task("math", "boxed")
CHOICE = make_task("choice", "tags", choices="ABCD")
CHOICE3 = make_task("choice", "tags", choices="ABC")
NLI = make_task("label", "tags", labels=("entailment", "contradiction", "neutral"))
YES_NO = make_task("yes_no", "tags", labels=("Yes", "No"))
TEXT = make_task("text", "plain")


# -- numbers ------------------------------------------------------------------------------
@pytest.mark.parametrize("written, canonical", [
    ("42", "42"), ("1,234", "1234"), ("$1,234.50", "1234.5"), ("-5", "-5"), ("−7", "-7"), ("15%", "15"),
    ("64 apples", "64"), ("12 dollars per hour", "12"), ("1/2", "0.5"), ("\\frac{1}{2}", "0.5"),
    ("\\boxed{\\dfrac{3}{4}}", "0.75"), ("5.00", "5"), ("\\$18", "18"), ("3.5 km", "3.5"), ("1{,}000", "1000"),
    ("seventy", None), ("5 x 3", None), ("1 + 1", None), ("", None), ("1/0", None),
])
def test_normalize_number(written, canonical):
    assert normalize_number(written) == canonical


@pytest.mark.parametrize("completion, expected", [
    ("23 + 41 = 64 apples.\n#### 64", "64"),
    ("#### $1,234.50", "1234.5"),
    ("The loss is 5 dollars.\n#### -5", "-5"),
    ("#### 64\n\nI hope this helps, 12 more words.", "64"),
    ("first #### 10 then corrected #### 12", "12"),  # the last #### wins
])
def test_extract_number_after_hashes(completion, expected):
    assert extract(completion, NUM_HASH, strict=True) == expected
    assert extract(completion, NUM_HASH) == expected


def test_number_flexible_fallbacks_where_strict_reads_nothing():
    assert extract("So the answer is 64 apples.", NUM_HASH) == "64"
    assert extract("So the answer is 64 apples.", NUM_HASH, strict=True) is None
    # the number a stated equation ends in; a leading minus is a sign
    assert extract("So the answer is 10-3=7", NUM_HASH) == "7"
    assert extract("The answer is -3.", NUM_HASH) == "-3"
    # prose that states no answer reads nothing (no scan for the last number)
    assert extract("We compute 10-3=7", NUM_HASH) is None
    assert extract("The total is \\boxed{72}. Check: 70 + 2.", NUM_HASH) == "72"
    assert extract("no digits here at all", NUM_HASH) is None


def test_plain_number_strict_is_the_whole_reply():
    assert extract(" 64 ", NUM_PLAIN, strict=True) == "64"
    assert extract("64 apples.", NUM_PLAIN, strict=True) == "64"
    assert extract("The answer is 64", NUM_PLAIN, strict=True) is None
    assert extract("The answer is 64", NUM_PLAIN) == "64"


def test_numbers_compare_with_tolerance_and_forms():
    assert answers_equal("0.5", "1/2", NUM_PLAIN)
    assert answers_equal("1234.5", "$1,234.50", NUM_PLAIN)
    assert answers_equal("0.3333", "1/3", NUM_PLAIN)  # within 1e-3
    assert not answers_equal("0.33", "1/3", NUM_PLAIN)
    assert not answers_equal("-5", "5", NUM_PLAIN)
    assert not answers_equal("1000001", "1000000", NUM_PLAIN)
    assert not answers_equal(None, "5", NUM_PLAIN)


def test_is_correct_reference_bare_or_full_solution():
    assert is_correct("... #### 64", "64", NUM_HASH)
    assert is_correct("... #### 64", "23 + 41 = 64\n#### 64", NUM_HASH)
    assert is_correct("The total is 1,234 dollars.\n#### 1,234", "$1234", NUM_HASH)
    assert not is_correct("... #### 63", "23 + 41 = 64\n#### 64", NUM_HASH)
    assert is_correct("<answer>0.5</answer>", "1/2", NUM_TAGS)


# -- math ---------------------------------------------------------------------------------------
def test_boxed_nested_braces_and_last_box():
    text = "First \\boxed{1} then \\boxed{\\frac{\\sqrt{3}}{2}} is final."
    assert extract(text, MATH, strict=True) == "\\frac{\\sqrt{3}}{2}"
    assert extract("\\boxed{\\left(1, \\frac{1}{2}\\right)}", MATH) == "(1, \\frac{1}{2})"
    assert extract("an unclosed \\boxed{\\frac{1}{2}", MATH, strict=True) is None


@pytest.mark.parametrize("completion, reference", [
    ("so \\boxed{\\frac{1}{2}}", "0.5"),
    ("so \\boxed{0.5}", "\\frac{1}{2}"),
    ("so \\boxed{\\dfrac12}", "\\boxed{\\frac{1}{2}}"),
    ("so \\boxed{x^2+1}", "1+x^2"),
    ("so \\boxed{\\frac{\\sqrt{2}}{2}}", "\\sqrt{2}/2"),
    ("$x = 3$, so \\boxed{3}", "The answer is $3$."),
])
def test_math_equivalent_forms(completion, reference):
    assert is_correct(completion, reference, MATH)


@pytest.mark.parametrize("completion, reference", [
    ("so \\boxed{\\frac{1}{3}}", "0.5"),
    ("so \\boxed{x^2-1}", "x^2+1"),
    ("so \\boxed{\\pi}", "3.14"),
])
def test_math_different_answers(completion, reference):
    assert not is_correct(completion, reference, MATH)


def test_math_strict_needs_the_box():
    reply = "Therefore the answer is $\\frac{3}{4}$."
    assert extract(reply, MATH, strict=True) is None
    assert extract(reply, MATH) == "\\frac{3}{4}"
    assert is_correct(reply, "0.75", MATH)
    assert not is_correct(reply, "0.75", MATH, strict=True)


# -- choices ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("completion, strict_expected, flexible_expected", [
    ("<answer>B</answer>", "B", "B"),
    ("<answer>b</answer>", "B", "B"),
    ("<answer> (c) </answer>", "C", "C"),
    ("<answer>D) 42 N</answer>", "D", "D"),
    ("<answer>A</answer> no wait <answer>C</answer>", "C", "C"),
    ("<answer>E</answer>", None, None),  # not among the choices
    ("The answer is (c).", None, "C"),
    ("Answer: D", None, "D"),
    ("A patient with fever most likely has B", None, None),  # no stated answer: no letter picked from prose
    ("<answer>The answer is B</answer>", None, "B"),
    ("I cannot tell.", None, None),
])
def test_extract_choice(completion, strict_expected, flexible_expected):
    assert extract(completion, CHOICE, strict=True) == strict_expected
    assert extract(completion, CHOICE) == flexible_expected


def test_choice_only_among_declared_letters():
    assert extract("<answer>D</answer>", CHOICE3) is None
    assert is_correct("<answer>c</answer>", "C", CHOICE3)
    assert is_correct("reasoning...\n<answer>C</answer>", "Because ... <answer>C</answer>", CHOICE3)
    assert not is_correct("<answer>A</answer>", "C", CHOICE3)


# -- labels -----------------------------------------------------------------------------------------
def test_labels_case_insensitive_to_canonical():
    assert extract("<answer>Entailment</answer>", NLI, strict=True) == "entailment"
    assert extract("<answer>NEUTRAL.</answer>", NLI, strict=True) == "neutral"
    assert extract("<answer>maybe</answer>", NLI) is None
    assert extract("It is a clear contradiction.", NLI) is None  # prose, not a stated answer
    assert extract("The answer is: contradiction.", NLI) == "contradiction"
    assert extract("It is a clear contradiction.", NLI, strict=True) is None
    assert is_correct("<answer>CONTRADICTION</answer>", "contradiction", NLI)
    assert not is_correct("<answer>neutral</answer>", "entailment", NLI)


def test_yes_no():
    assert extract("<answer>yes</answer>", YES_NO) == "Yes"
    assert extract("No, the clause forbids it.", YES_NO) == "No"
    assert extract("None of these clauses apply", YES_NO, strict=True) is None
    assert is_correct("<answer>NO</answer>", "No", YES_NO)
    assert not is_correct("<answer>Yes</answer>", "No", YES_NO)


def test_text_compares_normalised_whitespace_and_case():
    assert answers_equal("Paris  France", "paris france", TEXT)
    assert not answers_equal("Paris", "Lyon", TEXT)


# -- robustness -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("task", [NUM_HASH, NUM_PLAIN, MATH, CHOICE, NLI, YES_NO, TEXT])
def test_garbage_and_huge_input(task):
    huge = "<answer>" * 3000 + "\\boxed{" * 3000 + "9" * 50_000 + "####" * 1000
    for junk in (None, "", "   ", 12, {"role": "user"}, [], [{"no": "content"}], huge, "\x00\ufffd" * 100):
        extract(junk, task)
        extract(junk, task, strict=True)
        assert isinstance(is_correct(junk, "1", task), bool)
    assert is_correct(huge + "\n<answer>B</answer>", "B", CHOICE)


def test_never_evaluates_code():
    payload = "__import__('os').system('touch /tmp/synthrl_pwned')"
    assert not is_correct(f"\\boxed{{{payload}}}", "0", MATH)
    assert extract(f"#### {payload}", NUM_HASH, strict=True) is None


# -- reward ---------------------------------------------------------------------------------------------------
def test_reward_scores_completions_not_prompts():
    reward = make_reward(NUM_HASH)
    assert reward.__name__ == "correct"
    prompts = ["What is 23 + 41? The answer is 64. #### 64"] * 2
    scores = reward(prompts=prompts, completions=["I do not know.", "#### 64"], answer=["64", "64"])
    assert scores == [0.0, 1.0]


def test_reward_accepts_chat_completions_and_strict():
    chat = [[{"role": "assistant", "content": "so \\boxed{\\frac{1}{2}}"}],
            [{"role": "assistant", "content": "the answer is 1/2"}]]
    assert make_reward(MATH)(chat, answer=["0.5", "0.5"]) == [1.0, 1.0]
    strict = make_reward(MATH, strict=True)
    assert strict.__name__ == "correct_strict"
    assert strict(chat, answer=["0.5", "0.5"]) == [1.0, 0.0]


def test_reward_format_bonus_and_missing_answers():
    reward = make_reward(CHOICE, format_reward=0.1)
    assert reward(["<answer>A</answer>", "<answer>B</answer>", "B"], answer=["B", "B", "B"]) == [0.1, 1.0, 1.0]
    with pytest.raises(ValueError, match="answer"):
        reward(["<answer>A</answer>"])


# -- the bundled tasks read their own demos -------------------------------------------------------------------
@pytest.mark.parametrize("path", sorted(TASKS.glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_demos_grade_correct_against_themselves(path):
    task = load_task(path)
    for demo in task.demos:
        assert extract(demo.output, task, strict=True) is not None
        assert is_correct(demo.output, demo.output, task, strict=True)


def test_math_answers_that_would_stall_sympy_are_refused_not_computed():
    for tower in ("\\boxed{10^{10^{10}}}", "\\boxed{99999^{999999}}", "\\boxed{(10^{100})!}", "\\boxed{10**99999}"):
        assert not is_correct(tower, "5", MATH)
    assert is_correct("\\boxed{10^{10^{10}}}", "10^{10^{10}}", MATH)  # same text still matches


def test_math_checker_works_off_the_main_thread():
    # math-verify's own timeout needs the main thread; measure/eval may call from worker threads.
    from concurrent.futures import ThreadPoolExecutor

    pairs = [("\\boxed{x^2+1}", "1+x^2", True), ("\\boxed{\\sqrt{8}}", "2\\sqrt{2}", True),
             ("\\boxed{x^2-1}", "x^2+1", False), ("\\boxed{10^{10^{10}}}", "5", False)]
    with ThreadPoolExecutor(2) as pool:
        got = list(pool.map(lambda p: is_correct(p[0], p[1], MATH), pairs))
    assert got == [p[2] for p in pairs]


def test_math_phrase_keeps_tuples_whole():
    assert extract("The answer is (1, 2).", MATH) == "(1, 2)"
    assert is_correct("The answer is (1, 2).", "(1,2)", MATH)


# -- issue 10 section 1: the checker on real model output ------------------------------------------------------
MMLU_PLAIN = make_task("choice", "plain", choices="ABCDEFGHIJ")


def test_the_answer_is_F_under_plain_reads_F_not_a_letter_from_the_prose():
    # the old reading took "A" from a reply that opens by discussing option A
    reply = "A. is unresponsive to all stimuli (This describes Level 1)\nB. is coherent.\n\nThe answer is (F)."
    assert extract(reply, MMLU_PLAIN) == "F"
    assert not is_correct(reply, "A", MMLU_PLAIN)
    assert is_correct(reply, "F", MMLU_PLAIN)
    short = "A. is wrong here. The answer is (F)."
    assert extract(short, MMLU_PLAIN) == "F"


@pytest.mark.parametrize("reply, reference", [
    ("A 45-year-old man presents", "A"),
    ("The variable follows B(50, 0.01), so the probability", "B"),
    ("The entropy H(Y_n) grows with n and", "H"),
    ("A right to terminate exists if the", "A"),
])
def test_a_reply_that_states_no_answer_earns_nothing(reply, reference):
    medqa = load_task(TASKS / "medqa.yaml")
    assert make_reward(medqa)([reply], answer=[reference]) == [0.0]
    assert extract(reply, MMLU_PLAIN) is None
    assert extract("We know 3 + 4 = 7 and then the", NUM_HASH) is None  # no last-number scan either
    assert extract("It is neither contradiction nor", NLI) is None        # nor a label picked from prose


def test_a_rejected_number_is_not_the_answer():
    assert extract("12 apples, not 13", NUM_PLAIN) == "12"
    assert extract("The answer is 12 apples, not 13.", NUM_HASH) == "12"
    assert is_correct("12 apples, not 13", "12", NUM_PLAIN)


@pytest.mark.parametrize("reply, expected", [
    ("... so \\boxed{B}", "B"),
    ("Reasoning.\n\nAnswer: C", "C"),
    ("Reasoning.\n\n**Answer:** (D)", "D"),
    ("The correct answer is:\n\n(B)", "B"),
    ("<answer>E</answer>", "E"),
    ("(c)", "C"),
])
def test_choice_stated_in_the_common_ways(reply, expected):
    assert extract(reply, MMLU_PLAIN) == expected


def test_bold_conclusion_and_hashes_read_as_stated_answers():
    reply = "1. **Paul's Arrival**: 8:25 AM.\n\nThus, Ingrid was **165 minutes late** to the party."
    assert extract(reply, NUM_PLAIN) == "165"
    assert extract("1. **First step**: 12 eggs.\n2. **Second step**", NUM_PLAIN) is None


# -- one reading, chosen once --------------------------------------------------------------------------------------
def _task_dict(**answer):
    return {"name": "t", "description": "d", "input_format": "i", "output_format": "o",
            "answer": {"type": "number", "format": "####", **answer}}


def test_the_task_reading_is_the_one_setting_every_reader_uses():
    strict = TaskDefinition.from_dict(_task_dict(reading="strict"))
    reply = "So the answer is 64 apples."
    assert extract(reply, strict) is None
    assert not is_correct(reply, "64", strict)
    assert make_reward(strict)([reply, "#### 64"], answer=["64", "64"]) == [0.0, 1.0]
    assert make_reward(strict).__name__ == "correct_strict"
    flexible = TaskDefinition.from_dict(_task_dict())
    assert flexible.answer.reading == "flexible" and is_correct(reply, "64", flexible)
    # recorded with the task (the run stores task.to_dict())
    assert strict.to_dict()["answer"]["reading"] == "strict"
    assert TaskDefinition.from_dict(strict.to_dict()) == strict


def test_grade_uses_the_task_reading(tmp_path):
    import json

    from synthrl.commands.core import _grade_line

    strict = TaskDefinition.from_dict(_task_dict(reading="strict"))
    line = json.dumps({"completion": "the answer is 64", "reference": "64"})
    assert _grade_line(line, strict, False) == {"correct": False, "extracted": None}
    flexible = TaskDefinition.from_dict(_task_dict())
    assert _grade_line(line, flexible, False) == {"correct": True, "extracted": "64"}


def test_unknown_reading_is_refused_with_field_and_reason():
    with pytest.raises(TaskError) as e:
        TaskDefinition.from_dict(_task_dict(reading="lenient"), source="t.yaml")
    assert "t.yaml: field 'answer.reading': must be one of flexible, strict, got 'lenient'" in str(e.value)


# -- declared answer patterns ----------------------------------------------------------------------------------------
def test_a_declared_pattern_is_read_first():
    task = TaskDefinition.from_dict(_task_dict(pattern=r"FINAL:\s*(?P<answer>-?[\d,.]+)"))
    assert extract("work... #### 3\nFINAL: 1,234", task) == "1234"
    assert extract("work... #### 3", task) == "3"  # the format is still read when the pattern is absent
    plain = TaskDefinition.from_dict(_task_dict(pattern=r"Result\s*=\s*(\d+)", reading="strict"))
    assert extract("Result = 7", plain) == "7"
    assert extract("The answer is 7", plain) is None


@pytest.mark.parametrize("pattern, reason", [
    (r"(a+)+b", "nested quantifiers"),
    (r"((\w+\s?)*)$", "nested quantifiers"),
    (r"(\d)\1", "backreference"),
    (r"answer: \d+", "no capture group"),
    (r"(" + "a" * 300 + ")", "at most 200"),
    (r"(unclosed", "not a valid regular expression"),
    (42, "must be a non-empty string"),
])
def test_unsafe_patterns_are_refused_at_validation(pattern, reason):
    with pytest.raises(TaskError) as e:
        TaskDefinition.from_dict(_task_dict(pattern=pattern), source="t.yaml")
    assert "t.yaml: field 'answer.pattern':" in str(e.value)
    assert reason in str(e.value)


def test_pattern_matching_is_bounded_on_huge_replies():
    task = TaskDefinition.from_dict(_task_dict(pattern=r"(?P<answer>\d+)\s*points", reading="strict"))
    huge = "1 " * 200_000 + "so 5 points"
    assert extract(huge, task) == "5"  # only the tail is read


# -- agreement and false credit on real replies (tests/fixtures/replies, sources in its README) ---------------------
def _bench_figures(reading):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "checker.py"
    spec = importlib.util.spec_from_file_location("bench_checker", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.figures(is_correct, reading)


def test_real_replies_agree_with_their_labels_and_answerless_ones_earn_nothing():
    f = _bench_figures("flexible")
    assert f["answered"] >= 150 and f["answerless"] >= 250
    assert f["agreement"] >= 0.999, f["misses"]
    assert f["false_credit"] <= 0.005, f["misses"]


def test_strict_reading_never_credits_answerless_replies():
    assert _bench_figures("strict")["false_credit"] == 0.0


# -- misreadings found on the grown fixture set (tests/fixtures/replies/README.md) ----------------------------------
@pytest.mark.parametrize("reply, expected", [
    # deepseek (MMLU-Pro chemistry 3526): the conclusion ends with the option in parentheses
    ("J. Polar covalent bonding can vary.\n\nBased on the given properties, the substance most likely "
     "contains covalent network bonding (C).", "C"),
    # deepseek (MMLU-Pro chemistry 3530): a sentence pointing at one option
    ("3Mg(s) + 2Cr3+ -> 3Mg2+ + 2Cr(s)\n\nThis corresponds to option (E). The nitrate ions remain unchanged.", "E"),
    ("Option B is the correct answer, since the others fail.", "B"),
    # gpt-4o (MMLU-Pro math 7691): the letter in inline math, then a full stop
    ("Thus c = 2.\n\nThe answer is \\( B \\).", "B"),
])
def test_choice_stated_by_pointing_or_concluding(reply, expected):
    assert extract(reply, MMLU_PLAIN) == expected


@pytest.mark.parametrize("reply", [
    "- Pottery fragments (A) are common but not exclusive to state societies.\n- Irrigation canals (B) indicate",
    "1. **Option A**: This suggests they lived at the same time.\n2. **Option B**: This suggests that the traits",
    "Therefore, option (B) is plausible, but we must also consider",
    "A is too large.\n\nTherefore, we can eliminate (B).",
    "Thus, the statement is not true for (D).",
])
def test_options_merely_discussed_are_not_stated_answers(reply):
    assert extract(reply, MMLU_PLAIN) is None


@pytest.mark.parametrize("reply, expected", [
    # Qwen2.5-Math-1.5B r1_zero rollouts: the answer tag holds a worked sentence
    ("... </think> <answer> Jean has 28 lollipops left after eating 2. So, 28 ÷ 2 = 14 bags. Therefore, Jean can "
     "fill 14 bags with 2 lollipops in each bag. </answer>", "14"),
    ("... </think> <answer> she earns $2 \\times (16 - 7) = $2 \\times 9 = \\$18 $. </answer>", "18"),
    ("... </think> <answer> 15 miles </answer>", "15"),
])
def test_number_stated_as_a_sentence_inside_answer_tags(reply, expected):
    assert extract(reply, NUM_TAGS) == expected
    assert extract(reply, NUM_PLAIN) == expected  # tags read as another common way


# -- answer types are a registry ------------------------------------------------------------------------------------
def test_a_registered_answer_type_is_validated_and_checked(monkeypatch):
    from synthrl import scoring

    monkeypatch.setattr(scoring, "_ANSWER_TYPES", dict(scoring._ANSWER_TYPES))
    numerals = {"I": 1, "V": 5, "X": 10, "L": 50}

    @scoring.answer_type("roman", "a Roman numeral, compared by value", default_format="tags")
    def _roman(text, task):
        s = text.strip().upper()
        if not s or any(c not in numerals for c in s):
            return None
        values = [numerals[c] for c in s]
        return str(sum(-v if v < nxt else v for v, nxt in zip(values, values[1:] + [0])))

    assert "roman" in scoring.answer_type_names()
    assert scoring.answer_type_names()[:6] == ("number", "math", "choice", "label", "yes_no", "text")
    task = TaskDefinition.from_dict({"name": "r", "description": "d", "input_format": "i", "output_format": "o",
                                     "answer": {"type": "roman"}})
    assert (task.answer.type, task.answer.format) == ("roman", "tags")
    assert is_correct("So the year is <answer>XIV</answer>", "xiv", task)
    assert is_correct("<answer>xiv</answer>", "XIV", task)
    assert not is_correct("<answer>XV</answer>", "XIV", task)
    assert extract("The answer is: XL", task) == "40"

    monkeypatch.setattr(scoring, "_ANSWER_TYPES", {k: v for k, v in scoring._ANSWER_TYPES.items() if k != "roman"})
    with pytest.raises(TaskError, match="answer.type.*must be one of"):
        TaskDefinition.from_dict({"name": "r", "description": "d", "input_format": "i", "output_format": "o",
                                  "answer": {"type": "roman"}})
