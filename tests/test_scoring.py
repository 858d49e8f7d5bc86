"""The answer checker: extraction per format, normalisation per type, the reward."""
import pytest

from conftest import TASKS
from synthrl.scoring import answers_equal, extract, is_correct, make_reward, normalize_number
from synthrl.task import AnswerSpec, TaskDefinition, load_task


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
    # last number, and a binary minus is not a sign
    assert extract("We compute 10-3=7", NUM_HASH) == "7"
    assert extract("We compute 10-3", NUM_HASH) == "3"
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
    ("A patient with fever most likely has B", None, "B"),
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
    assert extract("It is a clear contradiction.", NLI) == "contradiction"
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
