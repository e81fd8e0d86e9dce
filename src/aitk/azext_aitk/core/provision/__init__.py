"""What `provision` decides: the plan, fine-tuning's resources to reuse, the GPU fit, the
registry, regions, template parameters, ARM errors."""
