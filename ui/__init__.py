"""The only Streamlit-aware helpers: typed session keys, cached loaders and shared widgets."""
