"""Azure Resource Manager: routing of subscriptions, resource groups, providers and resources (manager.py),
template deployments with validate and what-if (deployments.py, what_if.py), and the template evaluator
(template.py over expressions.py and functions.py). https://learn.microsoft.com/rest/api/resources/"""
