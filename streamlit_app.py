"""m1-evidence web UI. Start it with `m1e ui` (or `streamlit run streamlit_app.py`).

The page itself lives in `app.ui.page` so an installed package carries it too.
"""

from app.ui.page import main

main()
