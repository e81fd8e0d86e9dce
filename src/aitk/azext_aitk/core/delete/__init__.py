"""What `delete` removes: the teardown plan."""
