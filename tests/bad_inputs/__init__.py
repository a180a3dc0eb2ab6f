"""Bad-input corpus (issue 8): generated broken inputs run through every command."""
