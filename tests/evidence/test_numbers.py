"""The value a score or threshold question gives chooses the row whose condition it meets (evidence.numbers)."""

from __future__ import annotations

from evidence.numbers import number_fit, question_values


def test_question_values_are_the_patients_numbers_not_parts_of_names():
    assert question_values("A ward patient scores NEWS2 of 7. How fast must they be seen?") == ((7.0, ""),)
    assert question_values("What PHQ-9 score counts as remission in type 2 diabetes?") == ()
    assert question_values("DAS28-ESR cut-off for remission?") == ()
    assert question_values("Warfarin patient with an INR of 1.6: is PCC worth giving?") == ((1.6, ""),)
    assert question_values("Lee index of zero before a knee replacement") == ((0.0, ""),)


def test_the_row_whose_condition_holds_fits_and_its_neighbours_do_not():
    news = question_values("NEWS2 of 7: how fast must they be seen?")
    assert number_fit(news, "≥ 7 | High | Continuous monitoring; emergency assessment within 30 minutes") == 1
    assert number_fit(news, "5-6 | Medium | Urgent assessment within 60 minutes") == -1
    assert number_fit(news, "Score 7 or more: emergency response") == 1
    pulse = question_values("How many Wells points does a pulse of 115 add?")
    assert number_fit(pulse, "Heart rate > 100 beats per minute: 1.5 points") == 1
    assert number_fit(pulse, "Previous DVT or PE: 1.5 points") == 0  # no condition on that scale
    inr = question_values("ICH on warfarin with an INR of 1.6")
    assert number_fit(inr, "In patients with INR 1.3-1.9, 4F-PCC may be considered") == 1
    assert number_fit(inr, "INR >= 2.0: give 4F-PCC 25-50 IU/kg") == -1
    duration = question_values("TIA symptoms lasted 75 minutes")
    assert number_fit(duration, "Duration | ≥ 60 minutes | 2") == 1
    assert number_fit(duration, "Duration | 10–59 minutes | 1") == -1
    assert duration == ((75.0, "time"),)
    assert number_fit(news, "0-4 | Low | monitoring every 4-12 hours") == -1  # a score of 7 is not "4-12 hours"
    age = question_values("My 80-year-old patient had an MI; should she stay on high-intensity atorvastatin?")
    assert age == ((80.0, "age"),)
    assert number_fit(age, "Age > 75 years: it is reasonable to continue high-intensity statin therapy") == 1
    assert number_fit(age, "Age <= 75 years: high-intensity statin therapy (Class I)") == -1
    assert number_fit(age, "Reduce LDL-C by >= 50%") == 0


def test_a_condition_on_another_scale_or_a_goal_to_reach_does_not_count():
    assert number_fit(question_values("A pulse of 115"), "NEWS2 score >= 7") == 0  # 115 is not a NEWS2 score
    # "until K+ > 3.5" is where the patient must get to, not the row for a potassium of 3.1
    assert number_fit(question_values("Potassium is 3.1 in DKA: insulin?"), "Delay insulin until K+ > 3.5 mmol/L") == 0
    assert number_fit(question_values("Potassium is 3.1 in DKA: insulin?"), "K+ < 3.3 mmol/L: hold insulin") == 1
    assert number_fit((), "Score >= 7") == 0
