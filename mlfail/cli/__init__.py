"""The command-line shell: parse flags, call the library, render, choose the exit code."""
