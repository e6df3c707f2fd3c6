from .cli import app

app(prog_name="skl-payout")
