"""The Streamlit web UI's parts; `streamlit_app.py` only calls `app.ui.page.main`."""
