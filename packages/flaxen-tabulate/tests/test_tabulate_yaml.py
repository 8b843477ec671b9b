"""The YAML writer of the table's cells: PyYAML's block style, byte for byte."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flaxen.tabulate._yaml import dump

# Characters that exercise every scalar style: indicators, quotes, breaks,
# spaces, non-ASCII (escaped), control characters (escaped).
_ALPHABET = st.sampled_from(
    [*"abcXYZ019 -:#?,[]{}&*!|>%@`~.='\"\\\n\t", "é", "\x85", "\u2028", "\x00", "\ufeff"]
)
_TEXT = st.text(_ALPHABET, max_size=120) | st.sampled_from(
    ["", "True", "yes", "null", "~", "1.5", "0x1F", "- x", "a: b", "[dim]float32[/dim][16,9]"]
)
_DOCUMENTS = st.recursive(
    _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


def test_mapping_of_sequences_is_indentless():
    assert dump({"b": ["x", "y"], "a": {"c": "d"}}) == "a:\n  c: d\nb:\n- x\n- y\n"


def test_sequences_of_sequences_and_mappings():
    assert dump([["a", "b"], {"k": "v", "j": "w"}]) == "- - a\n  - b\n- j: w\n  k: v\n"


def test_empty_collections_are_flow():
    assert dump({"a": [], "b": {}}) == "a: []\nb: {}\n"


def test_strings_that_would_read_as_other_types_are_quoted():
    assert (
        dump(["True", "3", "1.5", "null", "", "x"])
        == "- 'True'\n- '3'\n- '1.5'\n- 'null'\n- ''\n- x\n"
    )


def test_quotes_are_doubled_and_long_text_folds_at_80_columns():
    # The break comes at the first space past column 80: "- '''" and 16 words
    # end at column 84.
    text = "'" + "word " * 20 + "'"
    first = "- '''" + " ".join(["word"] * 16)
    assert dump([text]) == first + "\n  " + "word " * 4 + "'''\n"


def test_special_characters_use_double_quotes_with_escapes():
    assert dump(["é\n"]) == '- "\\xE9\\n"\n'


def test_a_plain_root_scalar_ends_the_document():
    assert dump("abc") == "abc\n...\n"


@settings(max_examples=400, deadline=None)
@given(_DOCUMENTS)
def test_same_text_as_pyyaml(document):
    yaml = pytest.importorskip("yaml")
    assert dump(document) == yaml.safe_dump(document, default_flow_style=False)
