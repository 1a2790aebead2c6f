"""The label sets, in the order the heads' outputs use. Keep in step with data/GUIDE.md
and with the Rust crate (`vigie_model::signals`)."""

SIGNALS = (
    "safety_risk",
    "violence_threat",
    "legal_threat",
    "press_media",
    "virality",
    "outage",
    "data_leak",
    "hate_abuse",
    "scam",
    "churn",
)

# Any of these makes a comment urgent; churn alone does not.
URGENT_SIGNALS = tuple(s for s in SIGNALS if s != "churn")

INTENTS = (
    "safety_risk",
    "legal_threat",
    "press_influencer",
    "personal_data_exposure",
    "spam_scam",
    "prompt_injection",
    "abuse_insult",
    "sarcasm",
    "promise_bait",
    "refund_request",
    "outage_report",
    "delivery_delay",
    "order_problem",
    "availability_hours",
    "product_question",
    "job_application",
    "partnership_request",
    "complaint_angry",
    "complaint_mild",
    "feedback_suggestion",
    "praise",
    "off_topic",
)

SECTORS = ("retail", "food", "telecom", "transport", "banking", "energy", "tech")
LANGS = ("fr", "en")
