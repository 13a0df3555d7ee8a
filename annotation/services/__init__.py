"""Write-side domain logic of the annotation app (HackSoft-style services)."""
