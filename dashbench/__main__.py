from dashbench.cli import app

app(prog_name="dashbench")
