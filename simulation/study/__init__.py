"""The headline study (`iotsu-sim reproduce`): a sweep per research question, the figures
and a report whose numbers are read from the results."""
from simulation.study.questions import QUESTIONS, Question, question
from simulation.study.runner import StudyResult, reproduce, study_experiments

__all__ = ["QUESTIONS", "Question", "StudyResult", "question", "reproduce", "study_experiments"]
