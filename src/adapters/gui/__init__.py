"""The desktop app: a Tk-free presenter, the view port it drives, and the Tk view."""
