"""Example Rivetr builder: a repository's directory of static files served by busybox httpd."""
