"""Question sets in the paper's YAML schema, and the built-in sets.

    emlab questions list

`load_question_set("main")` or `load_question_set("path/to/upstream.yaml")` returns a
validated `QuestionSet`; every question carries its paraphrases, optional system prompt,
sampling settings and judge prompts.
"""

from emlab.questions._loader import list_question_sets, load_question_set
from emlab.questions._resolve import QuestionSource, resolve_question_set
from emlab.questions._schema import Question, QuestionSet, QuestionType, parse_question_set
from emlab.questions._upstream import QUESTION_FILES, import_question_files

__all__ = ["QUESTION_FILES", "Question", "QuestionSet", "QuestionSource", "QuestionType", "list_question_sets", "load_question_set",
           "import_question_files", "parse_question_set", "resolve_question_set"]
