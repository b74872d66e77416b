"""``python -m datacentric`` runs the command line."""

from datacentric.cli import main

if __name__ == "__main__":
    main()
