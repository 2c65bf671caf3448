"""The packaged copy of streamlit_app.py, for installs without the source tree (see `m1e ui`)."""

from app.ui.page import main

main()
