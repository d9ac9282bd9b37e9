"""audioLIME, the method: separate a track into sources, factorize it into listenable components,
score perturbations with the recommender, fit LIME's surrogate and turn the result into sound."""
