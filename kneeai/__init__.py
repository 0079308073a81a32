"""KneeAI: knee osteoarthritis decision support for research and education.

Not a certified medical device. This package never imports streamlit.
"""
__version__ = "0.1.0"
