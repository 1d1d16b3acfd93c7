"""flowrt"""
