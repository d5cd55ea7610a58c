"""The interviewer tests itself: scripted personas, policy invariants, text and audio runs."""
