"""The operator console (``/console``) and the end-user connections page (``/connect``), server-rendered."""
